"""`annotate_h5ad(path, store, ...)`: `cellmodel.annotate.annotate` for an .h5ad too large for
memory. The one step that reads the cells, the per-group marker statistics, is gathered chunk
by chunk (Dask): each chunk is normalized as in memory and summed per group and gene
(`markers.group_sums`, summable over chunks); the naming itself (`annotate.core.name_groups`:
markers, gene vectors, candidate texts, scores) works on those groups × genes sums and is the
in-memory run's own, so the labels and the report are the same. The output is a copy of the
input with `obs["cellmodel_annotation"]` and `uns["cellmodel"]["annotate"]`, renamed into place
when whole.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np

from cellmodel._settings import ANNOTATION_KEY, UNS_KEY
from cellmodel.annotate.core import name_groups
from cellmodel.annotate.inputs import groups_of
from cellmodel.annotate.params import check_key_added_free, setup
from cellmodel.annotate.report import uns_record
from cellmodel.chunked import h5
from cellmodel.chunked.classify import write_copy
from cellmodel.chunked.embed import DEFAULT_CHUNK_SIZE, check_stats, value_kind
from cellmodel.chunked.engine import DaskEngine
from cellmodel.chunked.stats import GeneStats, chunk_stats
from cellmodel.io import gene_names, refuse_repeated_cells
from cellmodel.knowledge.gene_key_hint import hint_notes
from cellmodel.markers import GroupSums, group_sums
from cellmodel.uns_record import ANNOTATE_ENTRY, annotation_columns
from cellmodel.value_kinds import NORMALIZATION
from cellmodel.value_kinds import normalize as normalize_rows
from genekb.errors import UsageError
from genekb.store.store import Store


@dataclass(frozen=True)
class _Sums:
    """A chunk's per-group sums and its per-gene statistics (for the checks of the values that
    the in-memory run makes on the whole matrix), summable over chunks."""

    groups: GroupSums
    genes: GeneStats

    def __add__(self, other: _Sums) -> _Sums:
        return _Sums(self.groups + other.groups, self.genes + other.genes)


def _sums_task(
    ref: h5.MatrixRef, start: int, stop: int, kind: str, codes: np.ndarray, k: int
) -> _Sums:
    with h5.ChunkReader(ref) as reader:
        raw = reader.rows(start, stop)
    X = normalize_rows(raw, kind)
    return _Sums(group_sums(X, codes, k), chunk_stats(X, raw))


def _refuse_in_memory_only(**given: Any) -> None:
    """Refuse, as the command line does with --chunk-size, what reads every cell in memory:
    per_cell (scores each cell) and resamples (draws the cells)."""
    for name, does in (("per_cell", "reads every cell"), ("resamples", "draws the cells")):
        if given.get(name):
            value = "True" if name == "per_cell" else "N"
            raise UsageError(
                f"{name} {does} in memory; run cellmodel.annotate.annotate(adata, ...,"
                f" {name}={value}) on the file read whole, or drop {name} here"
            )


def annotate_h5ad(
    path: str | Path,
    store: Store,
    *,
    output: str | Path,
    groupby: str | None = None,
    candidates: list[str] | None = None,
    ontology_subtree: str | None = None,
    tissue: str | None = None,
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    build_missing: bool = True,
    load_encoder: Any = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dask_address: str | None = None,
    workers: int | None = None,
    per_cell: bool = False,
    **settings: Any,
) -> dict[str, Any]:
    """Name each group of the .h5ad's `obs[groupby]`, reading `chunk_size` cells at a time;
    writes `output` and returns the report. `settings`: the method, marker and scoring keywords
    of `annotate` (method, markers, n_markers, top_k, ...). `per_cell` is refused: the per-cell
    calls score every cell in memory (it failed as an unknown AnnotateParams field)."""
    if chunk_size < 1:
        raise UsageError("chunk_size must be >= 1")
    _refuse_in_memory_only(per_cell=per_cell, resamples=settings.get("resamples"))
    began = time.perf_counter()
    path = Path(path)
    ref, kind, notes = value_kind(h5.pick(path, layer), layer)
    obs = h5.read_frame(path, "obs")
    refuse_repeated_cells(obs.index, path)  # as in memory, and as cluster out of core
    key, groups = groups_of(ad.AnnData(obs=obs), groupby)
    params, cands = setup(
        key, candidates, ontology_subtree, tissue, index_name=obs.index.name, **settings
    )
    check_key_added_free(params.key_added, obs.columns, *_annotated(path, params.key_added))
    var = h5.read_var(ref)
    genes = gene_names(var, gene_key, ref.source)
    notes += hint_notes(var, genes, gene_key, taxon)
    codes = np.asarray(groups.codes)
    k = len(groups.categories)
    ranges = h5.chunk_ranges(len(codes), chunk_size)
    tasks = [(ref, a, b, kind, codes[a:b], k) for a, b in ranges]
    with DaskEngine(dask_address, workers) as engine:
        summed = engine.reduce(_sums_task, tasks)
        scheduler = engine.scheduler
    check_stats(summed.genes, ref, kind)  # NaN, negative values, zeros: refused as in memory
    notes += summed.genes.notes
    sums = summed.groups
    report, labels = name_groups(
        genes,
        sums,
        groups,
        store,
        params,
        cands,
        gene_totals=sums.sums.sum(axis=0)[None, :],  # the match report reads only the totals
        taxon=taxon,
        build_missing=build_missing,
        load_encoder=load_encoder,
        began=began,
    )
    report["input"] = _input_record(ref, kind, gene_key, (len(codes), len(genes)), notes)
    report["chunked"] = {"chunk_size": chunk_size, "n_chunks": len(ranges), "scheduler": scheduler}
    # uns as `annotate` keeps it: the default key's report in uns["cellmodel"], any other's apart
    key, record = params.key_added, uns_record(report)
    uns_key, uns = (UNS_KEY, {ANNOTATE_ENTRY: record}) if key == ANNOTATION_KEY else (key, record)
    # A file annotated before keeps that run's confidence and per-cell calls beside the new
    # names, which no longer describe them: dropped, as `annotate` drops them in memory.
    names, *optional = annotation_columns(key)
    write_copy(ref, Path(output), {names: labels}, uns_key, uns, drop=optional)
    return report


def _input_record(
    ref: h5.MatrixRef, kind: str, gene_key: str | None, shape: tuple[int, int], notes: list[str]
) -> dict[str, Any]:
    """The report's "input" entry, as the in-memory run's (`Expression.to_dict`): what was
    read and its notes (features left out, the gene key hint), which `cm.pl.markers` reads."""
    return {
        "kind": kind,
        "source": ref.source,
        "gene_key": gene_key,
        "normalization": NORMALIZATION[kind],
        "n_cells": shape[0],
        "n_genes": shape[1],
        "notes": list(notes),
    }


def _annotated(path: Path, key: str) -> tuple[bool, bool]:
    """Whether the file holds the record of an annotate run under `key`, and whether it holds
    something else there (as `core._annotated` reads it in memory)."""
    if key == ANNOTATION_KEY:
        return True, False
    with h5.open_read(path) as f:
        annotated = f"uns/{key}/report_json" in f
        return annotated, f"uns/{key}" in f and not annotated
