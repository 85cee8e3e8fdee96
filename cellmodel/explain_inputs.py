"""What `explain` decomposes, rebuilt from the run record of an AnnData (`uns["cellmodel"]`): the
expression as the run read it, and, for a semantic view, the very gene weights and post-processed
vectors the view used; for a file without one, the bundled snapshot's records of its genes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel.embed import SemanticParams, fitted_genes, weights_of
from cellmodel.embed_genes import prepare_gene_vectors, weigh_genes
from cellmodel.io import Expression, expression
from cellmodel.knowledge.genes import LowMatchWarning, match_genes, require_gene_names
from cellmodel.knowledge.vectors import reference_table, run_reference
from cellmodel.uns_record import run_record
from genekb.errors import GenekbError, GenekbWarning, IntegrityError, warn
from genekb.store.store import Store


@dataclass
class RunInputs:
    """The expression and the semantic gene factors the run used, rebuilt from its record."""

    X: Any  # cells × genes, log scale, as the semantic path saw it
    genes: list[str]
    symbols: list[str | None]  # store symbol per data gene (None: unmatched)
    gene_ids: np.ndarray  # store GeneID per data gene (-1: unmatched)
    scale: np.ndarray | None  # per-gene weight (None: no semantic record)
    vectors: np.ndarray | None  # genes × dim, post-processed as in the run
    average: bool
    records: pd.DataFrame | None  # the store's gene records, indexed by GeneID


def _layer_of(source: str | None) -> str | None:
    if not source or source == "X":
        return None
    return "raw" if source == "raw" else source.removeprefix("layers/")


def _recorded_expression(adata: ad.AnnData, given: dict[str, Any]) -> Expression:
    """The expression as the recorded run read it (its layer and gene names); refused, saying
    so, where the file no longer holds them: the bare 'layer ... is not in the input' named a
    layer the user never gave to explain."""
    layer, gene_key = _layer_of(given.get("source")), given.get("gene_key")
    gone = None
    if layer == "raw" and adata.raw is None:
        gone = ".raw"
    elif layer not in (None, "raw") and layer not in adata.layers:
        gone = f"layers[{layer!r}]"
    elif gene_key is not None:
        var = adata.raw.var if layer == "raw" and adata.raw is not None else adata.var
        gone = None if gene_key in var.columns else f"the gene names in var[{gene_key!r}]"
    if gone is not None:
        raise GenekbError(
            f"the run recorded in uns['cellmodel']['input'] read {gone}, which this AnnData no"
            " longer holds; put it back, or cluster (or embed) the file again"
        )
    return expression(adata, layer=layer, gene_key=gene_key)


class OtherCellsWarning(GenekbWarning):
    """The AnnData explained holds other cells or genes than the semantic view was computed on."""


def _warn_of_other_cells(given: dict[str, Any], expr: Expression) -> None:
    """A subset taken after the run (T cells of the whole file) reweighs the genes: the scores
    were said to split the view's shift, of a view no run computed, without a word."""
    then = (given.get("n_cells"), given.get("n_genes"))
    now = (expr.X.shape[0], len(expr.genes))
    if then[0] is None or tuple(map(int, then)) == now:
        return
    warn(
        f"the semantic view was computed on {then[0]} cells × {then[1]} genes and this AnnData"
        f" holds {now[0]} × {now[1]}: the contributor genes split the view these cells would"
        " get (gene weights recomputed on them), not obsm['X_semantic']; embed it again for"
        " its own view",
        OtherCellsWarning,
    )


def rebuild(adata: ad.AnnData, store: Store | None) -> RunInputs:
    record = run_record(adata)
    expr = _recorded_expression(adata, record.get("input", {}))
    embedding_id = record.get("embedding_id")
    if not embedding_id:  # names the run did not map: check they are genes at all
        taxon = require_gene_names(
            expr.genes,
            None,
            "explain",
            "cluster again with gene_key=COLUMN if a var column holds gene symbols",
        )
        # No semantic view, but the markers are still described (and named by their symbols,
        # not an Ensembl id): from the bundled snapshot.
        records, gene_ids = _snapshot_records(expr.genes, taxon)
        symbol_of = records["symbol"].to_dict()
        symbols = [symbol_of.get(int(g)) for g in gene_ids]
        return RunInputs(expr.X, expr.genes, symbols, gene_ids, None, None, False, records)
    unnamed = [None] * len(expr.genes)
    if store is None:
        no_ids = np.full(len(expr.genes), -1)
        return RunInputs(expr.X, expr.genes, unnamed, no_ids, None, None, False, None)
    try:
        ev = store.embedding(embedding_id)
    except IntegrityError:
        raise
    except GenekbError:
        recorded = record.get("store_root")
        # Its own store: the version was removed there (rm, gc), and no other store is the fix.
        if recorded is not None and Path(str(recorded)).resolve() == Path(store.root).resolve():
            fix = "it was removed from it (genekb rm or gc): embed the file again for a view"
        else:
            fix = "open the store the file was embedded with (root=)"
        raise GenekbError(
            f"the store at {store.root} has no embedding {embedding_id}, the version of this"
            f" file's semantic view; {fix}"
        ) from None
    _warn_of_other_cells(record.get("input", {}), expr)
    fields = SemanticParams.__dataclass_fields__
    params = SemanticParams(**{k: v for k, v in record.get("params", {}).items() if k in fields})
    # The genes the run matched against (the snapshot, for an encoder run), not only the ones
    # the version holds, so the weights are the very ones the view used.
    store_genes, ref_taxon = run_reference(record, expr.genes, ev)
    # The species the run read the names as, not a guess from their case: upper-cased mouse
    # names vote human, and --taxon may have said otherwise.
    data_taxon = (record.get("gene_match") or {}).get("data_taxon")
    match = match_genes(
        expr.genes, store_genes, store_taxon=ref_taxon, data_taxon=data_taxon, strict=False
    )
    # A view pinned to another run's genes (embed's reference_genes=) weighs and is fitted on
    # those: recomputed over every matched gene, the scores were not the view's.
    fitted = fitted_genes(record)
    pinned = fitted.get("gene_ids") if fitted.get("rule") == "given" else None
    every = pinned is not None
    weights, fit_on = weigh_genes(match, weights_of(expr.X, params, every_candidate=every), pinned)
    store_ids, store_vectors = ev.matrix()
    symbol_of = dict(zip(store_genes["gene_id"].astype(int), store_genes["symbol"], strict=True))
    prepared = prepare_gene_vectors(store_ids, store_vectors, symbol_of, match, params, fit_on)
    symbols = [
        symbol_of.get(int(g)) if m else None
        for g, m in zip(match.gene_ids, match.matched, strict=True)
    ]
    records = store_genes.set_index(store_genes["gene_id"].astype(int))
    return RunInputs(
        expr.X,
        expr.genes,
        symbols,
        np.asarray(match.gene_ids),
        weights.scale,
        prepared.vectors,
        weights.average,
        records,
    )


def _snapshot_records(genes: list[str], taxon: str) -> tuple[pd.DataFrame, np.ndarray]:
    """The bundled snapshot's gene records (indexed by GeneID) and each data gene's GeneID
    there (-1: unmatched), for describing the markers of a file without a semantic view."""
    ref_taxon, table = reference_table(genes, taxon)
    frame = table.table.to_pandas()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LowMatchWarning)  # only descriptions hang on it
        match = match_genes(genes, frame, store_taxon=ref_taxon, data_taxon=taxon, strict=False)
    return frame.set_index(frame["gene_id"].astype(int)), np.asarray(match.gene_ids)
