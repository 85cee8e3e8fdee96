"""The gene side of the semantic view: match the data's genes to a store's, weigh them, read (or
build) their vectors and post-process them (`cellmodel.embed.embed` and the out-of-core
`cellmodel.chunked.embed_h5ad` share it, so both views are one method).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cellmodel import semantic
from cellmodel.knowledge.genes import GeneMatch, match_genes, require_gene_names
from cellmodel.knowledge.vectors import reference_table, store_version, vectors_for
from genekb.errors import GenekbError, UsageError, warn
from genekb.store.store import EmbeddingVersion, Store

if TYPE_CHECKING:
    from cellmodel.embed import SemanticParams


# A Python session's words; the command line says its own (cli.flags.PYTHON_ONLY).
ALL_GENES, LEAVE_ALL_GENES = "all_genes=True asks for", "leave all_genes"


@dataclass
class GeneVectors:
    """The data's gene vectors after post-processing and the chosen control."""

    vectors: np.ndarray  # data genes × dim; zero rows for unmatched genes
    symbols: list[str | None]  # store symbol per data gene (control applied), None if unmatched


def prepare_gene_vectors(
    store_ids: np.ndarray,
    store_vectors: np.ndarray,
    store_symbols: dict[int, str],
    match: GeneMatch,
    params: SemanticParams,
    used: np.ndarray | None = None,
) -> GeneVectors:
    """Vectors for the data genes: the chosen control, post-processed (see `ISOTROPY_FITS`).

    `used`: the genes the weighting gives weight to (for `isotropy_fit="used"`; default: all
    matched genes). Matched genes the store version lacks get zero rows; the caller makes sure
    every gene the view reads is there (`needed_rows`).
    """
    matched = match.matched
    fit_rows = reference_rows(match, matched if used is None else used, params)
    # Random vectors have no store to be fitted on, so they are fitted on themselves too.
    vectors = semantic.gene_matrix(store_ids, store_vectors, match.gene_ids)
    vectors = semantic.control_vectors(vectors, matched, params.gene_vectors, params.seed)
    if fit_rows.any():
        fitted = semantic.fit_isotropy(vectors[fit_rows], params.isotropy, params.n_remove)
        vectors[matched] = fitted.apply(vectors[matched])
    vectors[~matched] = 0.0
    symbols = [
        store_symbols.get(int(g)) if m else None
        for g, m in zip(match.gene_ids, matched, strict=True)
    ]
    symbols = semantic.control_symbols(symbols, matched, params.gene_vectors, params.seed)
    return GeneVectors(vectors=vectors, symbols=symbols)


def _is_embedding_version(obj: Any) -> bool:
    return hasattr(obj, "matrix") and hasattr(obj, "spec")


def needed_rows(match: GeneMatch, used: np.ndarray, params: SemanticParams) -> np.ndarray:
    """The data genes whose vectors the semantic view reads: those the weighting uses (and the
    post-processing is fitted on), or every matched gene when the fit or the shuffled control
    spans them all."""
    if params.isotropy_fit == "data" or params.gene_vectors == "shuffled":
        return match.matched
    return match.matched & used


def reference_rows(match: GeneMatch, used: np.ndarray, params: SemanticParams) -> np.ndarray:
    """The data genes the post-processing statistics are fitted on (see `ISOTROPY_FITS`)."""
    return match.matched & used if params.isotropy_fit == "used" else match.matched


@dataclass
class GeneSide:
    """What the view needs on the gene side: the version read, the match, the weights and the
    post-processed gene vectors (and what was built on the way)."""

    ev: Any
    match: GeneMatch
    weights: semantic.GeneWeights
    prepared: GeneVectors
    from_snapshot: bool
    fit_ids: list[int]
    built: dict[str, Any] | None
    n_vectors: int


def gene_side(
    store_or_ev: Store | EmbeddingVersion,
    genes: list[str],
    weigh: Callable[[np.ndarray], semantic.GeneWeights],
    *,
    gene_totals: Any,
    model: str,
    taxon: str | None,
    params: SemanticParams,
    template: str,
    build_missing: bool,
    all_genes: bool,
    progress: semantic.StageProgress | None,
    notify: Callable[[str], None] | None,
    pinned: Sequence[int] | None = None,
) -> GeneSide:
    """Match the data's genes, weigh them (`weigh(matched)`), read (or build) their vectors and
    post-process them. `gene_totals`: the normalized matrix, or any array whose column sums are
    the genes' totals over all cells (the match report's expression share reads only those).
    `pinned`: gene ids (another run's `reference_genes`), the only genes the weighting reads
    (every one as variable) and those the post-processing is fitted on: that run's space."""
    ev = store_or_ev if _is_embedding_version(store_or_ev) else store_version(store_or_ev, model)
    if ev is not None and all_genes:  # was taken, and recorded as done, with nothing built
        raise UsageError(
            f"{ALL_GENES} vectors built for every matched gene, and a version given as model= is"
            f" used as it is, never built: {LEAVE_ALL_GENES} out, or name an encoder as model="
        )
    gene_table, read_notes = None, []
    if ev is not None:
        # A version given as such (or by tag or id) is used as it is: its own genes are the
        # reference, and it is never built, grown or re-tagged.
        ref_taxon: Any = ev.taxon
        reference = ev.genes()
    else:  # matched against the bundled snapshot: the names must be its genes
        taxon = require_gene_names(genes, taxon, "the semantic view", notes=read_notes)
        ref_taxon, gene_table = reference_table(genes, taxon)
        reference = gene_table.table.select(["gene_id", "symbol", "aliases", "ensembl"])
        reference = reference.to_pandas()
    given = None if gene_table is not None else str(getattr(ev, "id", "the version"))
    match = match_genes(
        genes, reference, store_taxon=ref_taxon, data_taxon=taxon, X=gene_totals, version=given
    )
    # How the names were read (a species given against them, title case read as human) was
    # warned on stderr only: --json's warnings, read from the record, left it out.
    match.report.warnings[:0] = read_notes
    symbol_of = dict(zip(reference["gene_id"].astype(int), reference["symbol"], strict=True))
    weights, fit_on = weigh_genes(match, weigh, pinned)
    used = weights.scale != 0
    fit_ids = sorted({int(g) for g in match.gene_ids[reference_rows(match, fit_on, params)]})
    built = None
    if ev is None:
        rows = match.matched if all_genes else needed_rows(match, used | fit_on, params)
        needed = sorted({int(g) for g in match.gene_ids[rows]})
        if not needed:
            raise GenekbError(
                f"no gene of the data has a weight in the semantic view ({params.weighting}"
                f" weighting): none of its {int(match.matched.sum())} matched genes varies over"
                " the cells, as with one cell or identical cells; give several cells whose"
                " expression differs"
            )
        ev, built = vectors_for(
            store_or_ev,
            gene_table,
            needed,
            model=model,
            template=template,
            build_missing=build_missing,
            progress=progress,
            notify=notify,
        )
    store_ids, store_vectors = ev.matrix()
    prepared = prepare_gene_vectors(store_ids, store_vectors, symbol_of, match, params, fit_on)
    return GeneSide(
        ev, match, weights, prepared, gene_table is not None, fit_ids, built, len(store_ids)
    )


def weigh_genes(
    match: GeneMatch,
    weigh: Callable[[np.ndarray], semantic.GeneWeights],
    pinned: Sequence[int] | None,
) -> tuple[semantic.GeneWeights, np.ndarray]:
    """The weights of the matched genes (`weigh(candidates)`) and the genes the post-processing
    is fitted on; `pinned` (another run's `reference_genes`): those genes only, and the fit on
    them whatever this data's variances, so the view shares that run's space. `explain` rebuilds
    a view's weights with it, so they are the very ones the view used."""
    candidates = match.matched if pinned is None else _first_rows_of(match, pinned)
    if pinned is not None and not candidates.any():
        raise GenekbError(
            f"none of the {len(pinned)} genes of reference_genes is among this data's matched"
            " genes: the two files share no gene the view reads"
        )
    weights = weigh(candidates)
    _warn_of_one_gene(match, weights)
    return weights, (weights.scale != 0 if pinned is None else candidates)


def _warn_of_one_gene(match: GeneMatch, weights: semantic.GeneWeights) -> None:
    """Warn (and keep the warning with the match's) where one gene alone carries weight: every
    cell's vector is then that gene's vector times its expression, which centring leaves as
    more or less than the mean, and the default whitening, fitted on that one gene, as zero."""
    if weights.n_genes_used != 1:
        return
    name = match.names[int(np.flatnonzero(weights.scale)[0])]
    note = (
        f"only one gene ({name}) carries weight in the semantic view: it tells the cells apart"
        " by that gene alone (with the default whitening, its vectors are all zero); give more"
        " matched genes that vary over the cells"
    )
    match.report.warnings.append(note)
    warn(note)


def _first_rows_of(match: GeneMatch, gene_ids: Sequence[int]) -> np.ndarray:
    """The data genes of `gene_ids`, one row per id (the first, where several names match one)."""
    wanted = match.matched & np.isin(match.gene_ids, np.asarray(gene_ids, dtype=np.int64))
    _, first = np.unique(match.gene_ids[wanted], return_index=True)
    out = np.zeros_like(wanted)
    out[np.flatnonzero(wanted)[first]] = True
    return out
