"""`embed_h5ad(path, store, output=...)`: the weighted semantic view of an .h5ad file too large
for memory, read and computed chunk by chunk (Dask), written into obsm chunk by chunk.

Three passes over the cells, each holding a few chunks at a time:

1. statistics: every chunk is normalized exactly as in memory (`value_kinds.normalize` works
   per cell) and summed per gene (totals, squares, cells expressing, and the Seurat dispersion's
   sums), which is all the weighting needs from the whole matrix (`chunked.stats`);
2. the raw view Σ_g w_cg v_g of each chunk (`semantic.weighted_path`, the in-memory product
   itself), written into the output's obsm and summed over cells for the mean;
3. each written block centred by that mean and L2-normalised (`semantic.finish`), in place.

The gene side (match, vectors read or built, post-processing) is the in-memory run's own
(`cellmodel.embed_genes.gene_side`), so the result equals `embed(...)`'s `obsm["X_semantic_w"]`
up to float32 summation order. The sentence path is not computed here (it would run the encoder over
every cell's sentence): `X_semantic` is the weighted view alone and `params.sentence_top_n` is 0.
The output is a copy of the input with the new obsm and uns entries, written to a temporary file
and renamed into place when complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cellmodel import semantic
from cellmodel._settings import DEFAULT_N_HVG, UNS_KEY
from cellmodel.chunked import h5, h5_out
from cellmodel.chunked.engine import DaskEngine
from cellmodel.chunked.stats import GeneStats, chunk_stats, weights_from_stats
from cellmodel.embed import (
    DEFAULT_ISOTROPY,
    DEFAULT_ISOTROPY_FIT,
    DEFAULT_WEIGHTING,
    SemanticParams,
    empty_cells,
    run_record,
    warn_of_empty_cells,
)
from cellmodel.embed_genes import GeneSide, gene_side
from cellmodel.formats import FeaturesLeftOutWarning
from cellmodel.io import gene_names, refuse_repeated_cells
from cellmodel.knowledge.gene_key_hint import hint_notes
from cellmodel.matrix_checks import scaled_by_scanpy
from cellmodel.uns_record import h5ad_safe
from cellmodel.value_kinds import LOG_SCALE_MAX, NORMALIZATION, kind_of_values
from cellmodel.value_kinds import normalize as normalize_rows
from genekb.errors import GenekbError, UsageError, warn
from genekb.fileio import atomic_path
from genekb.store.store import EmbeddingVersion, Store
from genekb.templates import DEFAULT_TEMPLATE

DEFAULT_CHUNK_SIZE = 20_000
OBSM_WEIGHTED = "X_semantic_w"
OBSM_FUSED = "X_semantic"

log = logging.getLogger(__name__)


def _stats_task(ref: h5.MatrixRef, start: int, stop: int, kind: str) -> GeneStats:
    with h5.ChunkReader(ref) as reader:
        raw = reader.rows(start, stop)
    return chunk_stats(normalize_rows(raw, kind), raw)


def _view_task(
    ref: h5.MatrixRef,
    start: int,
    stop: int,
    kind: str,
    vectors: np.ndarray,
    weights: semantic.GeneWeights,
) -> tuple[np.ndarray, int]:
    """The chunk's raw view, and its cells that express none of the weighted genes (counted on
    the expression, as in memory: a raw view of zeros, read for it, counted every cell where
    the genes' vectors were zero, as one gene's are once whitened)."""
    with h5.ChunkReader(ref) as reader:
        X = normalize_rows(reader.rows(start, stop), kind)
    return semantic.weighted_path(X, vectors, weights), empty_cells(X, weights.scale)


def value_kind(ref: h5.MatrixRef, layer: str | None) -> tuple[h5.MatrixRef, str, list[str]]:
    """The matrix to read and its value kind, judged on every stored value by the rule a run in
    memory follows (`value_kinds.kind_of_values`; the statistics pass then checks the range). A
    scaled X (negative values, or sc.pp.scale's without centring) gives way to .raw where no
    layer was asked for, as in memory. Features that are not gene expression are left out, with
    a warning and a note, as in memory."""
    with h5.ChunkReader(ref) as reader:
        if reader.shape[0] == 0 or reader.shape[1] == 0:
            raise GenekbError(
                f"the expression matrix ({ref.source}) is empty; give a file with"
                " cells and genes, or choose another layer with layer="
            )
        kind, smallest = _kind_and_min(reader)
    scaled = None
    if smallest < 0:
        scaled = ("has negative values (scaled or centred data)", "negative (scaled) values")
    elif _scaled_without_centring(ref):
        scaled = ("holds scaled values (sc.pp.scale: every gene at unit variance)",
                  "scaled values (sc.pp.scale)")  # fmt: skip
    if scaled is None:
        return ref, kind, _left_out(ref, [])
    raw_ref = None
    if layer is None:
        try:
            raw_ref = h5.pick(ref.path, "raw")
        except GenekbError:
            raw_ref = None
    if raw_ref is None:
        raise GenekbError(
            f"the matrix ({ref.source}) {scaled[0]}; pass a layer with counts or log-normalized"
            " values with layer="
        )
    with h5.ChunkReader(raw_ref) as reader:
        kind, _ = _kind_and_min(reader)
    return raw_ref, kind, _left_out(raw_ref, [f"X holds {scaled[1]}; used .raw instead"])


def _kind_and_min(reader: h5.ChunkReader) -> tuple[str, float]:
    """The value kind of the reader's matrix and the smallest value read for it (negative:
    scaled data; a kind settled early may stop before a later negative value, which the
    statistics pass then refuses)."""
    smallest = [0.0]

    def chunks() -> Iterator[np.ndarray]:
        for values in reader.values():
            if values.size:
                smallest[0] = min(smallest[0], float(values.min()))
            yield values

    kind = kind_of_values(chunks(), reader.kind_rows)
    return kind, smallest[0]


def _left_out(ref: h5.MatrixRef, notes: list[str]) -> list[str]:
    if ref.left_out:
        warn(ref.left_out, FeaturesLeftOutWarning)
        notes.append(ref.left_out)
    return notes


def _scaled_without_centring(ref: h5.MatrixRef) -> bool:
    """matrix_checks.scaled_by_scanpy on the first rows: scanpy's var record, unit spreads."""
    var = h5.read_var(ref)
    if not {"mean", "std"} <= set(map(str, var.columns)):
        return False  # nothing read beyond var: most files stop here
    with h5.ChunkReader(ref) as reader:
        block = reader.rows(0, min(reader.shape[0], _SCALE_CHECK_ROWS))
    return scaled_by_scanpy(block, var)


_SCALE_CHECK_ROWS = 2000  # enough rows for each gene's spread; one chunk's read


def check_stats(stats: GeneStats, ref: h5.MatrixRef, kind: str) -> None:
    """What the in-memory checks refuse, from the sums over every chunk: NaN or infinite
    values, negative ones, a matrix of zeros."""
    where = ref.source
    if not stats.finite:
        raise GenekbError(
            f"the expression matrix ({where}) contains NaN or infinite values; fix or drop those"
            " entries first"
        )
    if stats.input_min < 0:
        raise GenekbError(
            f"the matrix ({where}) has negative values (scaled or centred data); pass a layer"
            " with counts or log-normalized values with layer="
        )
    if not stats.expressing.any():
        raise GenekbError(
            f"the expression matrix ({where}) holds only zeros; check that it"
            " holds the expression, or choose another layer with layer="
        )
    if kind == "log" and stats.input_max > LOG_SCALE_MAX:
        stats.notes.append(
            f"values reach {stats.input_max:g}, beyond a log scale, though the sample looked"
            " log-normalized; they were used as they are"
        )


def gene_statistics(
    engine: DaskEngine,
    ref: h5.MatrixRef,
    kind: str,
    ranges: list[tuple[int, int]],
    progress: semantic.StageProgress | None,
) -> GeneStats:
    """The first pass over the cells (here and in `chunked.cluster`): each chunk normalized and
    summed per gene, the sums added over all chunks and checked (`check_stats`)."""
    stats: GeneStats | None = None
    for i, part in enumerate(engine.map(_stats_task, [(ref, a, b, kind) for a, b in ranges])):
        stats = part if stats is None else stats + part
        if progress:
            progress("statistics", i + 1, len(ranges))
    assert stats is not None
    check_stats(stats, ref, kind)
    return stats


@dataclass(frozen=True)
class _Input:
    """The matrix a run reads and how: its value kind, its genes, what choosing it noted, and the
    chunks of cells read at a time."""

    ref: h5.MatrixRef
    kind: str
    genes: list[str]
    notes: list[str]
    n_cells: int
    chunk_size: int
    ranges: list[tuple[int, int]]


def _read_input(
    path: str | Path,
    layer: str | None,
    gene_key: str | None,
    chunk_size: int,
    taxon: str | None = None,
) -> _Input:
    """The matrix to read (`value_kind`), its gene names and its cells cut into chunks."""
    ref, kind, notes = value_kind(h5.pick(path, layer), layer)
    refuse_repeated_cells(h5.read_frame(path, "obs").index, path)  # as in memory
    var = h5.read_var(ref)
    genes = gene_names(var, gene_key, ref.source)
    notes += hint_notes(var, genes, gene_key, taxon)
    with h5.ChunkReader(ref) as reader:
        n_cells = reader.shape[0]
    ranges = h5.chunk_ranges(n_cells, chunk_size)
    return _Input(ref, kind, genes, notes, n_cells, chunk_size, ranges)


@dataclass
class _Passes:
    """The passes over the cells after the statistics, a few chunks at a time on `engine`, each
    reporting its progress in chunks done."""

    engine: DaskEngine
    source: _Input
    progress: semantic.StageProgress | None

    def _report(self, stage: str, done: int) -> None:
        if self.progress:
            self.progress(stage, done, len(self.source.ranges))

    def write_view(
        self, out: h5_out.ObsmWriter, vectors: np.ndarray, weights: semantic.GeneWeights
    ) -> int:
        """Passes 2 and 3 into `out`: each chunk's raw view written and summed for the mean, then
        each written block centred and normalised in place; X_semantic is the same array.
        Returns the cells with no expression in the weighted genes."""
        src = self.source
        view = out.create(OBSM_WEIGHTED, src.n_cells, vectors.shape[1], src.chunk_size)
        tasks = [(src.ref, a, b, src.kind, vectors, weights) for a, b in src.ranges]
        total = np.zeros(vectors.shape[1], np.float64)
        blocks = self.engine.map(_view_task, tasks)
        n_empty = 0
        for i, ((a, b), (block, empty)) in enumerate(zip(src.ranges, blocks, strict=True)):
            view[a:b] = block
            total += block.sum(axis=0, dtype=np.float64)
            n_empty += empty
            self._report("weighted view", i + 1)
        mean = (total / src.n_cells).astype(np.float32)[None, :]
        for i, (a, b, block) in enumerate(h5_out.iter_blocks(view, src.n_cells, src.chunk_size)):
            view[a:b] = semantic.finish(block, mean)
            self._report("centring", i + 1)
        out.link(OBSM_FUSED, OBSM_WEIGHTED)
        return n_empty

    def record(self) -> dict[str, Any]:
        """How the cells were read, for the run record."""
        return {
            "chunk_size": self.source.chunk_size,
            "n_chunks": len(self.source.ranges),
            "scheduler": self.engine.scheduler,
        }


def _input_info(source: _Input, gene_key: str | None, stats: GeneStats) -> dict[str, Any]:
    """The run record's "input" entry, as the in-memory run's `Expression.to_dict`."""
    return {
        "kind": source.kind,
        "source": source.ref.source,
        "gene_key": gene_key,
        "normalization": NORMALIZATION[source.kind],
        "n_cells": source.n_cells,
        "n_genes": len(source.genes),
        "notes": source.notes + stats.notes,
    }


def _write_output(
    output: Path,
    passes: _Passes,
    side: GeneSide,
    record: dict[str, Any],
    timings: dict[str, float],
    began: float,
) -> None:
    """A copy of the input with the view written in and the record, its timings now whole,
    merged into uns; renamed into place only when complete."""
    src = passes.source
    added = 4 * src.n_cells * side.prepared.vectors.shape[1]  # one float32 view per cell
    need = h5_out.copy_size(src.ref.path, added)
    with atomic_path(output, suffix=".tmp.h5ad", expected_bytes=need) as tmp:
        h5_out.copy_file(src.ref, tmp)
        with h5_out.ObsmWriter(tmp) as out:
            n_empty = passes.write_view(out, side.prepared.vectors, side.weights)
            if warn_of_empty_cells(n_empty, src.n_cells, side):  # as in memory
                record["gene_match"] = side.match.report.to_dict()
            timings["weighted"] = time.perf_counter() - began
            record["timings_s"] = {k: round(v, 3) for k, v in timings.items()}
            record["chunked"] = passes.record()
            out.merge_uns(UNS_KEY, h5ad_safe(record))


def embed_h5ad(
    path: str | Path,
    store_or_ev: Store | EmbeddingVersion,
    *,
    output: str | Path,
    model: str = "minilm",
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    weighting: str = DEFAULT_WEIGHTING,
    isotropy: str = DEFAULT_ISOTROPY,
    n_remove: int = semantic.DEFAULT_N_REMOVE,
    isotropy_fit: str = DEFAULT_ISOTROPY_FIT,
    n_hvg: int = DEFAULT_N_HVG,
    gene_vectors: str = "real",
    seed: int = 0,
    template: str = DEFAULT_TEMPLATE,
    build_missing: bool = True,
    all_genes: bool = False,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    dask_address: str | None = None,
    workers: int | None = None,
    progress: semantic.StageProgress | None = None,
    notify: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The weighted semantic view of the .h5ad at `path`, `chunk_size` cells at a time; writes
    `output` (the input plus obsm X_semantic_w / X_semantic and uns["cellmodel"]) and returns
    the uns record. Parameters as `cellmodel.embed.embed` (weighted path only); `dask_address`:
    a Dask scheduler whose workers can read `path` (default: local threads, `workers` of them).
    """
    if chunk_size < 1:
        raise UsageError("chunk_size must be >= 1")
    params = SemanticParams.from_arguments(locals(), sentence_top_n=0, fusion="weighted")
    output = Path(output)
    timings: dict[str, float] = {}
    began = time.perf_counter()
    source = _read_input(path, layer, gene_key, chunk_size, taxon)
    with DaskEngine(dask_address, workers) as engine:
        stats = gene_statistics(engine, source.ref, source.kind, source.ranges, progress)
        timings["read"] = time.perf_counter() - began

        began = time.perf_counter()
        side = gene_side(
            store_or_ev, source.genes,
            lambda matched: weights_from_stats(stats, matched, params.weighting, params.n_hvg),
            gene_totals=stats.total[None, :],  # the match report reads only column totals
            model=model, taxon=taxon, params=params, template=template,
            build_missing=build_missing, all_genes=all_genes, progress=progress, notify=notify,
        )  # fmt: skip
        summary = side.match.report.summary()
        log.info("input: %s values (%s); %s", source.kind, source.ref.source, summary)
        timings["genes"] = time.perf_counter() - began

        began = time.perf_counter()
        info = _input_info(source, gene_key, stats)
        record = run_record(side, info, params, all_genes, {}, timings)
        _write_output(output, _Passes(engine, source, progress), side, record, timings, began)
    return record
