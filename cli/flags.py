"""Library messages in the command line's terms: the parameters they name as Python does
(`n_clusters=500`) become the flags that set them (`--n-clusters 500`)."""

from __future__ import annotations

import re

# Library errors name a parameter as `name=` or `name=value` (what a Python caller writes); on
# the command line the same words become the flag (`--name` or `--name value`).
LIBRARY_FLAGS = {
    "batch_key": "--batch-key",
    "datasets": "--datasets",
    "gene_key": "--gene-key",
    "label_key": "--label-key",
    "reference": "--reference",
    "reference_label_key": "--label-key",  # classify --reference: the same flag names both files'
    "layer": "--layer",
    "methods": "--methods",
    "n_clusters": "--n-clusters",
    "orientation": "--orientation",
    "root": "--root",
    "seeds": "--seeds",
    "sep": "--sep",
    "taxon": "--taxon",
    "top_n": "--top",
    "groupby": "--groupby",
    "model": "--model",
    "ref": "--ref",  # genekb similar
    "gene_graph": "--gene-graph",
    "seed": "--seed",
    "train_fraction": "--train-fraction",
    "per_class": "--per-class",
    "train_mask": "--train-mask",
    "candidates": "--candidates",
    "ontology_subtree": "--subtree",
    "tissue": "--tissue",
    "cluster_key": "--cluster-key",
    "gene_vectors": "--gene-vectors",
    "across_groups": "--across-groups",
    "small_classes": "--small-classes",
    "timeout": "--timeout",
}
_PARAMETER = re.compile(r"\b(" + "|".join(LIBRARY_FLAGS) + r")=(\S?)")
# A refused choice names its parameter without "=": `unknown gene_vectors 'x'; choose one of`
# (only the names in Python's spelling: `unknown taxon 'x'` reads as words already).
_SNAKE_NAMES = "|".join(k for k in LIBRARY_FLAGS if "_" in k)
_UNKNOWN_CHOICE = re.compile(rf"\bunknown ({_SNAKE_NAMES}) (?=')")


# Advice only a Python session can follow (cellmodel.io.MAKE_UNIQUE), and the command line's own.
PYTHON_ONLY = {
    "make them unique (adata.var_names_make_unique())": "name each gene once in the file",
    "make them unique (raw = adata.raw.to_adata(); raw.var_names_make_unique(); adata.raw ="
    " raw)": "name each gene of .raw once in the file",
    "fill them in (e.g. 'unlabelled'), or pass the others only": "fill them in (e.g."
    " 'unlabelled') in the file, or write a file of the others only",
    "make them unique first (adata.obs_names_make_unique())": "give each cell one id",
    "read them from a file of cell id -> label (cellmodel.classify.read_labels)": (
        "give them in a file of cell id -> label with --labels"
    ),
    "give labels in a file of cell id -> label (cellmodel.classify.read_labels)": (
        "give labels in a file of cell id -> label (classify --labels)"
    ),
    "run cm.tl.cluster(adata) first": "run `cellmodel cluster IN -o OUT.h5ad` first",
    "pass build=True to embed them": "drop --no-build to embed them",  # knowledge.vectors
    "all_genes=True asks for": "--all-genes asks for",  # embed_genes.ALL_GENES
    "leave all_genes": "leave --all-genes",
}
# A subset a library message spells in Python (" (adata[adata.obs['g'].notna()])").
_PYTHON_SUBSET = re.compile(r" \(adata\[.*?\]\)")


# The same, where the advice names a column: (Python's words, the command line's).
PYTHON_ONLY_NAMING = [
    (  # `cellmodel.classify.labels`: a label column half empty
        re.compile(
            r"give as the train mask a column True where a cell has one \([^()]*\.notna\(\)\)"
        ),
        "pass --train-on-labelled",
    ),
]


def as_flags(message: str) -> str:
    """A library message in the command line's terms (`n_clusters=500` -> `--n-clusters 500`)."""
    for python, command_line in PYTHON_ONLY.items():
        message = message.replace(python, command_line)
    for pattern, command_line in PYTHON_ONLY_NAMING:
        message = pattern.sub(command_line, message)
    message = _PYTHON_SUBSET.sub("", message)
    message = _UNKNOWN_CHOICE.sub(lambda m: f"unknown {LIBRARY_FLAGS[m[1]]} ", message)
    return _PARAMETER.sub(
        lambda m: LIBRARY_FLAGS[m[1]] + (f" {m[2]}" if m[2] and m[2] not in ":,;.)]" else m[2]),
        message,
    )
