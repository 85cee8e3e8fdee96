"""What a run inferred about the file when the user did not say: its species and its tissue.

The species is read from the gene names (`knowledge.genes.read_gene_names`: human symbols, mouse
symbols, Ensembl prefixes) unless `--taxon` is given. The tissue is read from the groups' best
candidates: each tissue of `TISSUE_WORDS` is scored by how many of each group's `TOP_TERMS` best
CL terms name one of its words (label, synonyms or definition; a place named as the cell's
origin, "thymus-derived", does not count), averaged over the groups, and the best is reported
with its lead over the runner-up. Nothing here reads a label. The lineage
walk then favours, among near-equal terms, those naming that tissue (`lineage.TISSUE_BONUS`),
and disfavours as much those whose label names only another tissue (`elsewhere_terms`: a
mammary gland cell in a brain). Left out of the walk altogether (`out_of_place_terms`): a term
whose label names another species than the file's ("…, human", "(Mmus)", "(sensu Nematoda)")
or, in a human file, a mouse antigen no human gene carries ("Gr1-low"); and a kind CL defines
by its place (a thymocyte, a microglial cell) where another tissue or no tissue was inferred.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from cellmodel.annotate import ontology
from cellmodel.knowledge.orthologs import ortholog_ids

# tissue -> the word stems that name it in CL text (matched at a word start, as `--tissue` is)
TISSUE_WORDS: dict[str, tuple[str, ...]] = {
    "blood": ("blood", "peripheral blood"),
    "bone marrow": ("bone marrow",),
    "pancreas": ("pancrea",),
    "lung": ("lung", "pulmonary", "alveol", "bronch"),
    "brain": ("brain", "cerebral", "cortex", "hippocamp"),
    "kidney": ("kidney", "renal", "nephron"),
    "gut": ("intestin", "colon", "gut"),
    "liver": ("liver", "hepat"),
    "skin": ("skin", "epiderm"),
    "heart": ("heart", "cardiac"),
    "retina": ("retina",),
    "thymus": ("thymus", "thymic"),
}
# Tissues read only to disfavour their terms elsewhere (never inferred: no design-set file is
# from them, so nothing could show the inference right there).
OTHER_TISSUE_WORDS: dict[str, tuple[str, ...]] = {
    "adrenal": ("adrenal",),
    "mammary": ("mammary", "breast"),
    "urinary": ("urethra", "bladder", "urinary", "ureter"),
    "testis": ("testis", "testic", "seminifer", "sperm"),
    "ovary": ("ovary", "ovarian", "oocyte"),
    "stomach": ("stomach", "gastric"),
    "thyroid": ("thyroid",),
    "spleen": ("spleen", "splenic"),
    "lymph node": ("lymph node",),
}
TOP_TERMS = 10
# Where a cell comes from is not where it is: "naive thymus-derived CD4-positive T cell", "develops
# in the thymus" are T cells of the blood as much as of the thymus, and every T-cell term says so.
# These phrases are struck from a term's text before its tissue words are read.
_ORIGIN = re.compile(
    r"\b[\w-]+-der[iv]+ed\b"  # "thymus-derived", and CL's "thymus-dervied"
    r"|\b(?:develop|deriv|originat|matur|emigrat)\w* (?:in|from) (?:the )?[\w-]+",
    re.IGNORECASE,
)
# Kinds whose definition places them in one tissue ("an immature T cell located in the thymus",
# "a ... macrophage found in the parenchyma of the central nervous system"), by the tissues they
# are found in: the kind's subtree and every label naming it, left out where the file's tissue
# was inferred to be another one (nothing is left out where no tissue was inferred).
PLACED_KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "thymocyte": ("CL:0000893", "thymocyte", ("thymus",)),
    "microglial cell": ("CL:0000129", "microglia", ("brain", "retina")),
    "Kupffer cell": ("CL:0000091", "Kupffer", ("liver",)),
    "hepatocyte": ("CL:0000182", "hepatocyte", ("liver",)),
    "podocyte": ("CL:0000653", "podocyte", ("kidney",)),
    "enterocyte": ("CL:0000584", "enterocyte", ("gut",)),
}
# Mouse surface antigens some CL labels are named by ("Gr1-low non-classical monocyte", "Kit and
# Sca1-positive hematopoietic stem cell"), by the mouse genes that carry them: Gr-1 is the Ly6G /
# Ly6C epitope, Sca-1 is Ly6A. Where none of an antigen's genes has a human ortholog (checked in
# the bundled ortholog table, not assumed), a human file cannot show it and the term is mouse's.
MOUSE_ANTIGENS: dict[str, tuple[str, ...]] = {
    "Gr1": ("Ly6g", "Ly6c1", "Ly6c2"),
    "Sca1": ("Ly6a",),
}
_ANIMALS = ("Vertebrata", "metazoa", "Metazoa")
CLADES_OF: dict[str, frozenset[str]] = {
    "human": frozenset({"human", "Homo sapiens", "Primate", *_ANIMALS}),
    "mouse": frozenset({"mouse", "Mmus", "Mus", "Mus musculus", *_ANIMALS}),
}


@lru_cache(maxsize=1)
def _tissue_terms() -> dict[str, frozenset[str]]:
    """tissue -> the CL ids whose label, synonyms or definition name it (one pass over the
    ontology's text; the words match at a word start, as `--tissue` does)."""
    p = ontology.parser()
    ids = ontology.live_ids()
    labels, defs, syns = (
        ontology.live_labels(),
        p.map_term_descriptions(ids),
        p.map_term_synonyms(ids),
    )
    texts = {
        i: " | ".join([labels.get(i) or "", defs.get(i) or "", *(syns.get(i) or [])]) for i in ids
    }
    texts = {i: _ORIGIN.sub(" ", text) for i, text in texts.items()}
    out = {}
    for tissue, words in TISSUE_WORDS.items():
        pattern = re.compile("|".join(rf"\b{re.escape(w)}" for w in words), re.IGNORECASE)
        out[tissue] = frozenset(i for i, text in texts.items() if pattern.search(text))
    return out


def tissue(matrix: np.ndarray, cl_ids: list[str | None]) -> dict[str, Any] | None:
    """The tissue the groups' best candidates name most often: per group its `TOP_TERMS` best
    candidates under `matrix` (groups × candidates, the ranking that calls), each tissue scored
    by the share of those terms whose text names it, averaged over the groups; None where no
    tissue is named at all or the best two tie (a tie is no evidence for either; the terms are
    counted whole, so no sum's rounding breaks a tie)."""
    terms = _tissue_terms()
    terms = {t: ids for t, ids in terms.items() if t in TISSUE_WORDS}
    counts = dict.fromkeys(terms, 0)
    n_rows = 0
    for row in np.asarray(matrix, dtype=float):
        ok = np.isfinite(row)
        if not ok.any():
            continue
        n_rows += 1
        top = np.argsort(-np.where(ok, row, -np.inf), kind="stable")[:TOP_TERMS]
        for name, ids in terms.items():
            counts[name] += sum(cl_ids[i] in ids for i in top)
    if not n_rows or max(counts.values()) <= 0:
        return None
    order = sorted(counts, key=lambda t: -counts[t])
    if counts[order[0]] <= counts[order[1]]:  # a tie names no tissue
        return None
    scores = {t: c / (n_rows * TOP_TERMS) for t, c in counts.items()}
    return {
        "tissue": order[0],
        "lead": round(scores[order[0]] - scores[order[1]], 3),
        "runner_up": order[1],
        "scores": {t: round(scores[t], 3) for t in order if scores[t] > 0},
        # the same as counts: how many of the groups' best terms name each of the two
        "terms": {order[0]: counts[order[0]], order[1]: counts[order[1]]},
        "of_terms": n_rows * TOP_TERMS,
    }


def tissue_terms(found: dict[str, Any] | str | None) -> frozenset[str] | None:
    """The CL ids naming an inferred tissue (`tissue`'s result) or a tissue word the user gave."""
    if not found:
        return None
    if isinstance(found, dict):
        return _tissue_terms().get(found["tissue"])
    return frozenset(c.cl_id for c in ontology.from_ontology(tissue=found) if c.cl_id)


@lru_cache(maxsize=1)
def _labelled_tissues() -> dict[str, frozenset[str]]:
    """tissue -> the CL ids whose label itself names it (a definition names tissues in passing:
    "vasoactive intestinal polypeptide", "blood vessel"; a label names where the cell is)."""
    labels = ontology.live_labels()
    out = {}
    for tissue, words in {**TISSUE_WORDS, **OTHER_TISSUE_WORDS}.items():
        pattern = re.compile("|".join(rf"\b{re.escape(w)}" for w in words), re.IGNORECASE)
        out[tissue] = frozenset(
            i
            for i, label in labels.items()
            if pattern.search(_ORIGIN.sub(" ", (label or "").replace("blood vessel", "")))
        )
    return out


def elsewhere_terms(found: dict[str, Any] | str | None) -> frozenset[str] | None:
    """The CL ids whose label names another tissue (`TISSUE_WORDS`, `OTHER_TISSUE_WORDS`) and
    not the inferred one (`tissue`'s result; the label, not the definition, as "cortex" in an
    adrenal cell's text is not the brain's); None where no tissue was inferred or the user
    named one (their candidates are that tissue's terms already)."""
    if not isinstance(found, dict):
        return None
    named = _labelled_tissues()
    other = frozenset().union(*(ids for t, ids in named.items() if t != found["tissue"]))
    return other - named[found["tissue"]]


@lru_cache(maxsize=4)
def other_species_terms(taxon: str | None) -> frozenset[str]:
    """The CL ids whose label names a clade that does not hold `taxon` ("human" or "mouse"):
    a primate-only neuron in a mouse file, a zebrafish or insect term in either; empty for a
    species `CLADES_OF` does not list."""
    clades = CLADES_OF.get(taxon or "")
    if clades is None:
        return frozenset()
    labels = ontology.live_labels()
    out = set()
    for i, label in labels.items():
        tag = ontology.CLADE_TAG.search(label or "")
        if tag and (tag.group(1) or tag.group(2)) not in clades:
            out.add(i)
    if taxon == "human":
        out |= _mouse_antigen_terms()
    return frozenset(out)


def _mouse_antigen_terms() -> set[str]:
    """The CL ids whose label names a `MOUSE_ANTIGENS` antigen none of whose genes has a human
    ortholog."""
    mouse_only = [
        antigen
        for antigen, genes in MOUSE_ANTIGENS.items()
        if (ortholog_ids(list(genes), "mouse", "human") < 0).all()
    ]
    if not mouse_only:
        return set()
    pattern = re.compile(rf"\b(?:{'|'.join(map(re.escape, mouse_only))})\b")
    return {i for i, label in ontology.live_labels().items() if pattern.search(label or "")}


@lru_cache(maxsize=1)
def _placed_terms() -> dict[str, frozenset[str]]:
    """kind of `PLACED_KINDS` -> its CL ids: the subtree and every label naming the kind."""
    p = ontology.parser()
    labels = ontology.live_labels()
    out = {}
    for kind, (root, word, _) in PLACED_KINDS.items():
        pattern = re.compile(rf"\b{re.escape(word)}", re.IGNORECASE)
        named = {i for i, label in labels.items() if pattern.search(label or "")}
        out[kind] = frozenset(named | set(p.get_term_descendants(root, include_self=True)))
    return out


def out_of_place_terms(
    taxon: str | None, found: dict[str, Any] | None, searched: bool = True
) -> frozenset[str]:
    """The terms the walk leaves out for this file: those of another species
    (`other_species_terms`), and the `PLACED_KINDS` `placed_elsewhere` names."""
    out = set(other_species_terms(taxon))
    for kind in placed_elsewhere(found, searched):
        out |= _placed_terms()[kind]
    return frozenset(out)


def placed_elsewhere(found: dict[str, Any] | None, searched: bool = True) -> list[str]:
    """The `PLACED_KINDS` left out: those whose tissues do not hold the one `tissue` inferred,
    and all of them where the tissue was `searched` for and none was found (a kind CL defines
    by its place is named only where the file is from that place; the genes of a thymocyte are
    those of a T cell). Nothing is left out where no search was made (the user named the
    tissue, or gave the candidates)."""
    if not found:
        return list(PLACED_KINDS) if searched else []
    return [k for k, (_, _, tissues) in PLACED_KINDS.items() if found["tissue"] not in tissues]
