"""Genes whose GO biological processes name a candidate cell type, and whose markers they are.

Gene Ontology process terms name cell types in the Cell Ontology's own words: "Schwann cell
differentiation", "mast cell degranulation", "B cell receptor signaling pathway", "type B
pancreatic cell proliferation", "natural killer cell mediated cytotoxicity". The genes annotated
to such processes are what curators have tied to the cell type, which is knowledge a candidate's
definition rarely spells out (CL defines a Schwann cell by what it does to axons; GO ties EGR2 to
its differentiation). This module reads that link from the store's source (NCBI Gene's GO
annotations via org.Hs.eg.db) and scores each group by how strongly its markers fall among a
candidate's process genes.

**Process genes.** A candidate's phrases are its label and CL synonyms (or the words given, for a
free label). A phrase matches a process term where its words occur there as a whole run of words
(hyphens read as spaces, case kept for one-letter and short upper-case tokens such as B, T, NK,
CD4, folded elsewhere), so "T cell" finds "T cell receptor signaling pathway" and not "fat cell
differentiation". Terms of the form "(positive / negative) regulation of ..." are not read: their
genes mostly act *on* the cell type, often from other cells (the growth factors under "regulation
of endothelial cell proliferation"). The candidate's process genes are the union of the genes
annotated to the terms its phrases match; a phrase that is only "cell"/"cells" matches nothing.

**Score.** The over-representation of the group's markers among the candidate's process genes
(`enrichment.overrepresentation`), within the data genes that carry any GO process, as a
significance: p is Bonferroni-adjusted over the candidates that have process genes, and the score
is how many orders of magnitude the adjusted p lies below 0.05 (0 when it does not). A chance
overlap of one marker with a large set therefore scores 0, not a small positive number that the
per-group standardisation of `score.combine` would inflate. A candidate no process names has no
score (nan).

**Controls.** These are annotations, not vectors: under "bag-of-words" they stay; under
"shuffled" and "random" each process gene is read as a seeded random data gene, so the sets keep
their sizes and lose their meaning.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from cellmodel.annotate.enrichment import overrepresentation
from cellmodel.annotate.mentions import split_words
from cellmodel.annotate.ontology import synonyms
from genekb.sources.bundled import load_bundled

SIGNIFICANCE = float(-np.log10(0.05))
_EMPTY = {("cell",), ("cells",)}


def phrase(text: str) -> tuple[str, ...]:
    """`text` as the words a process term is matched by."""
    return tuple(
        w if len(w) == 1 or (w.isupper() and len(w) <= 4) else w.lower() for w in split_words(text)
    )


@dataclass
class ProcessIndex:
    """Each process term's words, the terms each word occurs in, each term's GeneIDs, and every
    gene annotated to any process (the universe the scores are computed in)."""

    words: dict[str, tuple[str, ...]]
    by_word: dict[str, list[str]]
    genes: dict[str, set[int]]
    annotated: frozenset[int]

    @classmethod
    def from_table(cls, gene_ids, go_bp) -> ProcessIndex:
        genes: dict[str, set[int]] = defaultdict(set)
        for gid, terms in zip(gene_ids, go_bp, strict=True):
            for t in terms if terms is not None else ():
                genes[t].add(int(gid))
        words: dict[str, tuple[str, ...]] = {}
        by_word: dict[str, list[str]] = defaultdict(list)
        for t in genes:
            if "regulation of" in t:  # mostly genes acting on the type, often from outside
                continue
            words[t] = phrase(t)
            for w in set(words[t]):
                by_word[w].append(t)
        annotated = frozenset().union(*genes.values())
        return cls(words, dict(by_word), dict(genes), annotated)

    def terms(self, phrases: list[str]) -> list[str]:
        """The process terms any of `phrases` occurs in as a whole run of words, sorted."""
        found: set[str] = set()
        for p in phrases:
            run = phrase(p)
            if not run or run in _EMPTY:
                continue
            n = len(run)
            rarest = min(run, key=lambda w: len(self.by_word.get(w, ())))
            for t in self.by_word.get(rarest, ()):
                words = self.words[t]
                if any(words[i : i + n] == run for i in range(len(words) - n + 1)):
                    found.add(t)
        return sorted(found)

    def genes_of(self, terms: list[str]) -> set[int]:
        return set().union(*(self.genes[t] for t in terms)) if terms else set()


@lru_cache(maxsize=1)
def human_processes() -> ProcessIndex:
    """The process index of the bundled human snapshot (GO biological processes of NCBI Gene)."""
    df = load_bundled("human").table.select(["gene_id", "go_bp"]).to_pandas()
    return ProcessIndex.from_table(df["gene_id"], df["go_bp"])


def candidate_phrases(c: Any) -> list[str]:
    """The words a candidate is known by: as given, its CL label and synonyms."""
    if c.cl_id is None:
        return [c.given]
    return list(dict.fromkeys([c.given, c.label, *synonyms(c.cl_id)]))


@dataclass
class ProcessScores:
    """groups × candidates scores (nan: no process names the candidate), and per candidate its
    process genes (GeneIDs, as read: under a control, remapped)."""

    scores: np.ndarray
    genes: list[set[int]]

    def overlap(self, markers: np.ndarray, cand: int) -> list[int]:
        """The markers (GeneIDs, in marker order) among the candidate's process genes."""
        return [int(g) for g in markers if int(g) in self.genes[cand]]


def score_groups(
    cands: list[Any],
    marker_ids: list[np.ndarray],
    data_gene_ids: np.ndarray,
    *,
    gene_vectors: str,
    seed: int,
) -> ProcessScores:
    """Process scores of `cands` for groups whose markers are `marker_ids` (human GeneIDs), within
    the data genes (`data_gene_ids`) that carry a GO process."""
    index = human_processes()
    universe = sorted(index.annotated & {int(g) for g in np.asarray(data_gene_ids).tolist()})
    read_as = {g: g for g in universe}
    if gene_vectors in ("shuffled", "random"):
        perm = np.random.default_rng(seed).permutation(universe)
        read_as = dict(zip(universe, (int(g) for g in perm), strict=True))
    terms = [index.terms(candidate_phrases(c)) for c in cands]
    genes = [{read_as[g] for g in index.genes_of(t) if g in read_as} for t in terms]
    refs = [g or None for g in genes]
    drawn = [[int(g) for g in m] for m in marker_ids]
    raw = overrepresentation(drawn, refs, set(universe))
    n_tested = max(1, sum(r is not None for r in refs))
    return ProcessScores(np.maximum(raw - np.log10(n_tested) - SIGNIFICANCE, 0.0), genes)
