"""The settings of an annotate run, checked in one place, and its candidates.

`AnnotateParams` holds every choice `annotate` (and the chunked reader) makes besides the data
and the store; `setup` checks them and resolves the candidates: the user's list (free text or CL
ids) or Cell Ontology terms, restricted by a subtree or a tissue word.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cellmodel._settings import (
    ANNOTATION_KEY,
    CLASSIFY_UNS_KEY,
    CLUSTER_KEY,
    DEFAULT_ANNOTATE_METHOD,
    EXPLAIN_UNS_KEY,
    PREDICTION_KEY,
    UNS_KEY,
)
from cellmodel.annotate import free_labels, ontology, score, tissue_words
from cellmodel.annotate.inputs import DEFAULT_N_BACKGROUND, MARKER_RULES
from cellmodel.annotate.lineage import LINEAGE_CHOICES
from cellmodel.annotate.methods import METHODS, channels_of
from cellmodel.annotate.ontology import Candidate
from cellmodel.arguments import check_seed, is_whole
from cellmodel.semantic import GENE_VECTORS as SEMANTIC_GENE_VECTORS
from cellmodel.uns_record import annotation_columns, index_clash
from genekb.errors import UsageError

ACROSS_GROUPS: dict[str, str] = {
    "auto": "on for a candidate list the user gives (a closed list: each candidate should fit"
    " some group), off for Cell Ontology candidates (most are absent from any one dataset, and"
    " standardising hands each of them a group)",
    "on": "standardise each candidate's scores over the groups before calling",
    "off": "call each group from its own scores alone",
}
# The seeded vector controls of the semantic view, and the same texts as words with no model.
GENE_VECTORS: tuple[str, ...] = (*SEMANTIC_GENE_VECTORS, "bag-of-words")
DEFAULT_N_MARKERS = 50
MAX_RESAMPLES = 50


@dataclass
class AnnotateParams:
    groupby: str
    method: str = DEFAULT_ANNOTATE_METHOD
    markers: str = "specific"
    n_markers: int = DEFAULT_N_MARKERS
    top_k: int = score.DEFAULT_TOP_K
    hubness: str = score.DEFAULT_HUBNESS
    pooling: str = score.DEFAULT_POOLING
    text_style: str = ontology.DEFAULT_TEXT_STYLE
    across_groups: str = "auto"
    gene_vectors: str = "real"
    seed: int = 0
    n_background: int = DEFAULT_N_BACKGROUND
    model: str = "minilm"
    template: str = "ncbi-card"
    lineage: str = "auto"
    key_added: str = ANNOTATION_KEY  # obs[key_added] (and its _confidence, _cell columns), uns
    # Cell resamples named again to check each lineage-first call (`stability`); 0: none.
    resamples: int = 0

    def check(self) -> None:
        for name, value, choices in [
            ("method", self.method, METHODS),
            ("marker rule", self.markers, MARKER_RULES),
            ("hubness", self.hubness, score.HUBNESS),
            ("pooling", self.pooling, score.POOLINGS),
            ("text style", self.text_style, ontology.TEXT_STYLES),
            ("gene_vectors", self.gene_vectors, GENE_VECTORS),
            ("across_groups", self.across_groups, ACROSS_GROUPS),
            ("lineage", self.lineage, LINEAGE_CHOICES),
        ]:
            if not isinstance(value, str):  # a list would fail deep inside as unhashable
                raise UsageError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
            if name == "method":
                channels_of(value)  # a named method, or channels joined by '+'
            elif value not in choices:
                raise UsageError(f"unknown {name} {value!r}; choose one of {', '.join(choices)}")
        sizes = (self.n_markers, self.top_k, self.n_background)
        if not all(map(is_whole, sizes)) or min(sizes[:2]) < 1 or self.n_background < 10:
            raise UsageError(
                "n_markers and top_k must be whole numbers ≥ 1 and n_background one ≥ 10 (got"
                f" {', '.join(map(repr, sizes))})"
            )
        check_seed(self.seed)
        _check_key_added(self.key_added)
        if not is_whole(self.resamples) or not 0 <= self.resamples <= MAX_RESAMPLES:
            raise UsageError(
                f"resamples must be a whole number from 0 to {MAX_RESAMPLES} (got"
                f" {self.resamples!r})"
            )
        self.resamples = int(self.resamples)
        # Python numbers for the report: numpy's (np.int64(20) from an array) failed its JSON
        # after the whole run.
        self.n_markers, self.top_k = int(self.n_markers), int(self.top_k)
        self.n_background, self.seed = int(self.n_background), int(self.seed)


# Keys other steps write: an annotation stored there would replace their results.
_OTHER_KEYS = (UNS_KEY, CLASSIFY_UNS_KEY, EXPLAIN_UNS_KEY, CLUSTER_KEY, PREDICTION_KEY)


def _check_key_added(key: object) -> None:
    if not isinstance(key, str) or not key.strip() or "/" in key:
        raise UsageError(
            f"key_added must be a non-empty name without '/' (an obs column); got {key!r}"
        )
    if key in _OTHER_KEYS:
        raise UsageError(
            f"key_added={key!r} is where another cellmodel step writes its results; choose"
            " another name"
        )


def check_key_added_against_index(key: str, index_name: object) -> None:
    """Refuse a key_added whose columns would take the name of obs's index (the cell names):
    an .h5ad keeps the index under that name ('_index' unnamed), so writing the file failed
    after the whole run, and out of core the cell names were replaced by the labels."""
    clash = index_clash(annotation_columns(key), index_name)
    if clash is not None:
        raise UsageError(
            f"key_added={key!r} would write obs[{clash!r}], the name under which the file keeps"
            " the cell names; choose another name"
        )


def check_key_added_free(key: str, columns: Any, annotated: bool, uns_taken: bool) -> None:
    """Refuse a key_added whose columns the data already hold for something else: with no record
    of an annotate run under `key` (`annotated`), obs[key] is the user's own column (a
    clustering, a QC value), which the names replaced without a word, and uns[key] (`uns_taken`)
    another tool's record (scanpy keeps uns['leiden'], uns['neighbors'] there)."""
    if annotated:  # a run again under the same key: its own columns, replaced
        return
    clash = next((c for c in annotation_columns(key) if c in set(map(str, columns))), None)
    if clash is not None:
        raise UsageError(
            f"key_added={key!r} would overwrite obs[{clash!r}], which no annotate run under that"
            " key wrote; give another key_added, or drop the column first"
        )
    if uns_taken:
        raise UsageError(
            f"key_added={key!r} would overwrite uns[{key!r}], which another tool wrote (scanpy"
            " keeps its parameters there); give another key_added"
        )


@dataclass(frozen=True)
class Candidates:
    """A run's candidate cell types and how they were asked for: the user's list, or Cell Ontology
    terms (all of them, or restricted by a subtree and/or a tissue word)."""

    terms: list[Candidate]
    user_given: bool
    ontology_subtree: str | None
    tissue: str | None

    @property
    def whole_ontology(self) -> bool:
        return not self.user_given and not (self.ontology_subtree or self.tissue)


def setup(
    groupby: str,
    candidates: list[str] | None,
    ontology_subtree: str | None,
    tissue: str | None,
    index_name: object = None,
    **settings: Any,
) -> tuple[AnnotateParams, Candidates]:
    """The run's checked parameters and its candidates (given, or from the Cell Ontology);
    `index_name`: the name of the data's obs index, which key_added may not take."""
    params = AnnotateParams(groupby=groupby, **settings)
    params.check()
    key = params.key_added
    check_key_added_against_index(key, index_name)
    if groupby == key or groupby.startswith(f"{key}_"):
        raise UsageError(
            f"groupby={groupby!r} is a column annotate writes its results to (key_added={key!r}),"
            " so the groups would be overwritten by their names; copy it under another name, or"
            " give another key_added, to group by it"
        )
    if candidates is not None and (ontology_subtree or tissue):
        raise UsageError("give candidates, or restrict the ontology (subtree / tissue), not both")
    walked = params.lineage == "on" or (params.lineage == "auto" and candidates is None)
    if params.resamples and not walked:
        raise UsageError(
            "resamples checks the lineage-first calls over Cell Ontology terms; with a candidate"
            " list or lineage='off' no call is walked: drop resamples, or the list"
        )
    sample = tissue_words.sample_subtree(tissue)
    if sample is not None:
        if ontology_subtree:
            raise UsageError(
                f"tissue={tissue!r} is a sample type, read as the subtree {sample}; give it or"
                " ontology_subtree=, not both"
            )
        ontology_subtree, tissue = sample, None
    # A sample type as the subtree reads as it does as the tissue: 'PBMC' is also a CL term
    # whose subtree holds 3 terms (no B or T cell), 'blood' read as 'blood cell' 42 (neither)
    ontology_subtree = tissue_words.sample_subtree(ontology_subtree) or ontology_subtree
    ontology_subtree = free_labels.subtree_term(ontology_subtree)
    terms = (
        free_labels.user_candidates(candidates)
        if candidates is not None
        else ontology.from_ontology(subtree=ontology_subtree, tissue=tissue)
    )
    return params, Candidates(terms, candidates is not None, ontology_subtree, tissue)
