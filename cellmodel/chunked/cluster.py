"""`cluster_h5ad(path, output=...)`: the in-memory `cellmodel.cluster.job.cluster` method for an
.h5ad file too large for memory, read in row chunks, written back chunk by chunk.

1. The structure input out of core (`chunked.structure`): normalization statistics and Seurat
   HVGs, an exact PCA from a Gram matrix summed over chunks, and the scores of every cell, in
   three Dask passes over row chunks (local threads, or the workers of `dask_address`).
2. The kNN graph over the scores (`graph.knn_graph`: pynndescent's approximate index from
   `graph.APPROXIMATE_FROM` cells on). The scores are small (cells × ≤ 50 float32), so the index
   is built in one process, the driver.
3. The graph encoder: `cluster.fit_clusters`, the in-memory fit itself (label-free pretraining,
   k-means, OT refinement, k estimated by Leiden when not given), on a seeded subsample of
   `fit_cells` cells with their own kNN graph (all cells when the file holds fewer).
4. One forward pass of the fitted encoder over every cell on the whole graph, `chunk_size`
   cells at a time (each chunk's full two-hop neighbourhood, no sampling), and each cell's
   cluster as in memory: the highest Student-t assignment to the fitted centres (the subsample's
   k-means centres moved by the OT refinement).
5. The merge-split check in the PCA (`cellmodel.cluster.merge_split`), as in memory, on all cells
   (with k estimated, its merges too).

The output is a copy of the input with obs["cellmodel_cluster"], obsm["X_cellmodel"] (and
"X_structure", a second name of it), obsm["X_pca_expr"] and uns["cellmodel"], written block by
block to a temporary file renamed into place only when complete: an interrupted run leaves the
input untouched and no output. Steps 2-5 run on the driver (torch on `device`); what one Dask
worker holds is one chunk (dense, cells × HVGs float32) and the HVGs × HVGs Gram sum.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from cellmodel._settings import CLUSTER_KEY, DEFAULT_N_HVG, UNS_KEY
from cellmodel.arguments import check_obs_column
from cellmodel.chunked import h5, h5_out
from cellmodel.chunked.embed import DEFAULT_CHUNK_SIZE, gene_statistics, value_kind
from cellmodel.chunked.engine import DaskEngine
from cellmodel.chunked.limits import warn_small_chunks
from cellmodel.chunked.structure import structure_scores
from cellmodel.cluster import ClusterResult, fit_clusters, relabel_by_size
from cellmodel.cluster.diagnostics import read_and_warn
from cellmodel.cluster.inputs import (
    check_out_of_core_args,
    empty_cells_note,
    refuse_cluster_key_as_labels,
    refuse_cluster_per_cell,
)
from cellmodel.cluster.merge_split import check_partition
from cellmodel.cluster.outputs import REFINE_OUTPUTS, forget_previous_run
from cellmodel.cluster.sampling import NeighbourSampler
from cellmodel.io import gene_names, refuse_repeated_cells
from cellmodel.metrics import check_labels, cluster_metrics
from cellmodel.module.losses import split_for_empty, student_t
from cellmodel.module.model import deterministic
from cellmodel.pp import graph
from cellmodel.pp.pca import check_n_pcs
from cellmodel.semantic import StageProgress
from cellmodel.uns_record import h5ad_safe
from cellmodel.value_kinds import NORMALIZATION
from genekb.device import resolve_device
from genekb.errors import GenekbError, UsageError
from genekb.fileio import atomic_path

# Cells the graph encoder is fitted on; every cell then goes through the fitted encoder.
FIT_CELLS = 50_000
NO_CAP = 1 << 40  # a fan-out no cell reaches: the forward pass sees every neighbour


def _standardizer(X: np.ndarray) -> tuple[np.ndarray, float]:
    """The centre and scale `cellmodel.cluster.training.standardize` gives these rows (applied
    to all cells)."""
    mean = X.mean(axis=0, dtype=np.float64).astype(np.float32)
    rms = float(np.sqrt(np.mean((X - mean) ** 2)))
    return mean, rms if rms > 0 else 1.0


def fit_subsample(
    X_pca: np.ndarray,
    knn: graph.KnnGraph,
    n_clusters: int | None,
    *,
    fit_cells: int,
    n_neighbors: int,
    seed: int,
    device: str,
    options: dict[str, Any],
) -> tuple[ClusterResult, np.ndarray]:
    """`fit_clusters` on all cells, or on a seeded sample of `fit_cells` with its own kNN graph;
    returns the result and the rows it was fitted on."""
    n = X_pca.shape[0]
    if n <= fit_cells:
        rows = np.arange(n)
        sub_graph = knn
    else:
        rows = np.sort(np.random.default_rng(seed).choice(n, fit_cells, replace=False))
        sub_graph = graph.knn_graph(X_pca[rows], n_neighbors, seed=seed)
    if n_clusters is not None and n_clusters > rows.size:
        raise UsageError(f"n_clusters={n_clusters} exceeds the {rows.size} cells of the fit")
    result = fit_clusters(
        X_pca[rows], sub_graph, None, n_clusters, seed=seed, device=device, **options
    )
    return result, rows


def _centres(result: ClusterResult) -> torch.Tensor:
    """The fitted centres: the OT-refined ones, or (refinement off) the k-means clusters' means."""
    net = result.net
    if net is not None and net.centres is not None:
        return net.centres.detach().cpu()
    labels = result.labels
    return torch.from_numpy(
        np.stack([result.latent[labels == c].mean(axis=0) for c in np.unique(labels)])
    )


@torch.no_grad()
def embed_all(
    result: ClusterResult,
    X_pca: np.ndarray,
    fit_rows: np.ndarray,
    knn: graph.KnnGraph,
    *,
    chunk_size: int,
    device: str,
    progress: StageProgress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Every cell's latent (cells × latent) and cluster under the fitted encoder and centres."""
    net = result.net
    dev = torch.device(device)
    net.eval()
    mean, rms = _standardizer(X_pca[fit_rows])
    x = torch.from_numpy((X_pca - mean) / rms).to(dev)
    centres = _centres(result).to(dev)
    alpha = float(result.params.get("student_alpha", 1.0))
    sampler = NeighbourSampler(knn.adjacency, (NO_CAP, NO_CAP), 0.0)
    rng = np.random.default_rng(0)  # no edge drop and no cap: the draws decide nothing
    n = X_pca.shape[0]
    latent = np.empty((n, result.latent.shape[1]), dtype=np.float32)
    labels = np.empty(n, dtype=np.int64)
    ranges = h5.chunk_ranges(n, chunk_size)
    for i, (a, b) in enumerate(ranges):
        nodes, edges, sizes = sampler.sample(np.arange(a, b), rng)
        nodes_t = torch.from_numpy(nodes).to(dev)
        h = net.structure(x[nodes_t], torch.from_numpy(edges).to(dev), sizes)
        z = net.fuse(h, None)
        latent[a:b] = z.cpu().numpy()
        labels[a:b] = student_t(z, centres, alpha).argmax(1).cpu().numpy()
        if progress:
            progress("encoder", i + 1, len(ranges))
    _, fixed, reseeded = split_for_empty(
        torch.from_numpy(latent), centres.cpu(), torch.from_numpy(labels)
    )
    if reseeded:
        result.notes.append(f"{reseeded} empty cluster(s) re-seeded on all cells")
    return latent, fixed.numpy()


def write_obs_column(file: Any, key: str, values: pd.Categorical) -> None:
    """obs[key] of an open .h5ad (replacing a column of that name), in anndata's encoding."""
    from anndata.io import write_elem

    obs = file["obs"]
    if key in obs:
        del obs[key]
    write_elem(obs, key, values)
    order = [
        c.decode() if isinstance(c, bytes) else str(c) for c in obs.attrs.get("column-order", [])
    ]
    obs.attrs["column-order"] = [*(c for c in order if c != key), key]


def _write_output(
    src: h5.MatrixRef,
    output: Path,
    latent: np.ndarray,
    X_pca: np.ndarray,
    labels: np.ndarray,
    n_clusters: int,
    record: dict[str, Any],
    chunk_size: int,
) -> None:
    """The input copied to a temporary file, the results added block by block, renamed."""
    n = latent.shape[0]
    categories = [str(i) for i in range(max(n_clusters, int(labels.max()) + 1))]
    added = latent.nbytes + X_pca.nbytes + 16 * n
    need = h5_out.copy_size(src.path, added)
    with atomic_path(output, suffix=".tmp.h5ad", expected_bytes=need) as tmp:
        h5_out.copy_file(src, tmp)
        with h5_out.ObsmWriter(tmp) as out:
            for key, matrix in (("X_cellmodel", latent), ("X_pca_expr", X_pca)):
                dataset = out.create(key, n, matrix.shape[1], chunk_size)
                for a, b in h5.chunk_ranges(n, chunk_size):
                    dataset[a:b] = matrix[a:b]
            out.link("X_structure", "X_cellmodel")
            record["notes"] += forget_in_file(out.file)
            write_obs_column(
                out.file, CLUSTER_KEY, pd.Categorical(labels.astype(str), categories=categories)
            )
            out.merge_uns(UNS_KEY, h5ad_safe(record))


def forget_in_file(file: Any) -> list[str]:
    """`forget_previous_run` on an open .h5ad's obs and uns: the old run's record (its metrics
    read as this run's), the names and explanations of the old clusters had stayed."""
    import anndata as ad
    from anndata.io import read_elem, write_elem

    obs = read_elem(file["obs"])
    uns = read_elem(file["uns"]) if "uns" in file else {}
    holder = ad.AnnData(obs=obs, uns=dict(uns))
    refined = isinstance(uns.get(UNS_KEY), dict) and bool(uns[UNS_KEY].get("refine"))
    notes = forget_previous_run(holder)
    gone = [c for c in obs.columns if c not in holder.obs.columns]
    for column in gone:
        del file["obs"][column]
    order = [
        c.decode() if isinstance(c, bytes) else str(c)
        for c in file["obs"].attrs.get("column-order", [])
    ]
    file["obs"].attrs["column-order"] = [c for c in order if c not in gone]
    for key in [k for k in uns if k not in holder.uns or k == UNS_KEY]:
        del file["uns"][key]
    if holder.uns.get(UNS_KEY):
        write_elem(file["uns"], UNS_KEY, dict(holder.uns[UNS_KEY]))
    if refined and REFINE_OUTPUTS[1] in file["obsm"]:
        del file["obsm"][REFINE_OUTPUTS[1]]
    return notes


def _score(path: str, label_key: str, labels: np.ndarray) -> dict[str, float]:
    """Metrics against the input's obs[label_key], read only after the run has ended."""
    obs = h5.read_frame(path, "obs")
    check_obs_column(obs, label_key, "label_key")
    truth = obs[label_key]
    mask = truth.notna().to_numpy()
    scores = cluster_metrics(truth.astype(str).to_numpy()[mask], labels[mask])
    return {k: round(float(v), 6) for k, v in scores.items()}


def _check_names(path: str, ref: h5.MatrixRef, label_key: str | None) -> list[str]:
    """Cells and genes named once (as in memory), and the label column (if any) labelling some,
    before the first pass; the gene names."""
    obs = h5.read_frame(path, "obs")
    refuse_repeated_cells(obs.index, path)
    genes = gene_names(h5.read_var(ref), None, path)
    if label_key is not None:
        refuse_cluster_key_as_labels(label_key)  # the old run's clusters would score the new
        check_obs_column(obs, label_key, "label_key")
        check_labels(obs[label_key], label_key)
    return genes


def _read_setup(
    path: str, layer: str | None, label_key: str | None, n_clusters: int | None
) -> tuple[h5.MatrixRef, str, list[str], int, list[str]]:
    """The matrix to read, its value kind, notes, the cells and the gene names, all checked
    before any pass."""
    ref, kind, notes = value_kind(h5.pick(path, layer), layer)
    genes = _check_names(path, ref, label_key)
    with h5.ChunkReader(ref) as reader:
        n_cells = reader.shape[0]
    if n_cells < 3:
        raise GenekbError(f"the data has {n_cells} cell(s); clustering needs at least 3")
    if n_clusters is not None and not 1 <= n_clusters <= n_cells:
        raise UsageError(f"n_clusters={n_clusters} must be between 1 and the {n_cells} cells")
    refuse_cluster_per_cell(n_clusters, n_cells)
    return ref, kind, notes, n_cells, genes


def _labels(
    X_pca: np.ndarray,
    n_clusters: int | None,
    timings: dict[str, float],
    *,
    fit_cells: int,
    n_neighbors: int,
    seed: int,
    device: str,
    chunk_size: int,
    merge_split: bool,
    progress: StageProgress | None,
    options: dict[str, Any],
) -> tuple[ClusterResult, dict[str, Any], np.ndarray, np.ndarray]:
    """Steps 2-5 of the module doc on the scores: the result of the fit, a record of the run,
    every cell's latent and label."""
    with deterministic(seed):
        tick = time.perf_counter()
        knn = graph.knn_graph(X_pca, n_neighbors, seed=seed)
        timings["graph"] = time.perf_counter() - tick
        tick = time.perf_counter()
        result, rows = fit_subsample(
            X_pca, knn, n_clusters, fit_cells=fit_cells, n_neighbors=n_neighbors, seed=seed,
            device=device, options=options,
        )  # fmt: skip
        timings["fit"] = time.perf_counter() - tick
        tick = time.perf_counter()
        latent, labels = embed_all(
            result, X_pca, rows, knn, chunk_size=chunk_size, device=device, progress=progress
        )
        timings["encode_all"] = time.perf_counter() - tick
    labels = relabel_by_size(labels)
    checked = None
    if merge_split:
        tick = time.perf_counter()
        labels, checked = check_partition(
            X_pca, labels, seed, k_estimated=n_clusters is None, adjacency=knn.adjacency
        )
        if n_clusters is None:
            result = replace(result, n_clusters=int(labels.max()) + 1)
        timings["merge_split"] = time.perf_counter() - tick
    record = {
        "merge_split": checked,
        "fit_cells": int(rows.size),
        "graph_method": knn.method,
    }
    return result, record, latent, labels


def cluster_h5ad(
    path: str | Path,
    *,
    output: str | Path,
    n_clusters: int | None = None,
    layer: str | None = None,
    n_hvg: int = DEFAULT_N_HVG,
    n_pcs: int | str = "auto",
    n_neighbors: int = graph.FIT_N_NEIGHBORS,
    seed: int = 0,
    device: str | None = None,
    merge_split: bool = True,
    label_key: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    fit_cells: int = FIT_CELLS,
    dask_address: str | None = None,
    workers: int | None = None,
    progress: StageProgress | None = None,
    **cluster_options: Any,
) -> dict[str, Any]:
    """Cluster the cells of the .h5ad at `path`, `chunk_size` at a time (see the module doc);
    writes `output` and returns its uns["cellmodel"] record. Keywords as
    `cellmodel.cluster.job.cluster` (structure view only: no semantic view, batch correction,
    ensemble or batch choice out of core); `fit_cells`: cells the encoder is fitted on;
    `dask_address`: a Dask scheduler whose workers read `path` (default: `workers` threads)."""
    check_out_of_core_args(
        cluster_options, n_clusters=n_clusters, seed=seed, merge_split=merge_split,
        counts={"chunk_size": chunk_size, "fit_cells": fit_cells, "n_hvg": n_hvg,
                "n_neighbors": n_neighbors},
    )  # fmt: skip
    check_n_pcs(n_pcs)
    if fit_cells < 3:
        raise UsageError("fit_cells must be >= 3")
    path = str(path)
    device = resolve_device(device)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    ref, kind, notes, n_cells, genes = _read_setup(path, layer, label_key, n_clusters)
    ranges = h5.chunk_ranges(n_cells, chunk_size)
    warn_small_chunks(n_cells, chunk_size, len(ranges))
    with DaskEngine(dask_address, workers) as engine:
        stats = gene_statistics(engine, ref, kind, ranges, progress)
        X_pca, structure = structure_scores(
            engine, ref, kind, ranges, stats, n_hvg=n_hvg, n_pcs=n_pcs, seed=seed,
            progress=progress, genes=genes,
        )  # fmt: skip
        scheduler = engine.scheduler
    timings["structure_input"] = time.perf_counter() - started
    empty = [empty_cells_note(stats.empty_cells)] if stats.empty_cells else []
    result, run, latent, labels = _labels(
        X_pca, n_clusters, timings, fit_cells=fit_cells, n_neighbors=n_neighbors, seed=seed,
        device=device, chunk_size=chunk_size, merge_split=merge_split, progress=progress,
        options=cluster_options,
    )  # fmt: skip
    record: dict[str, Any] = {
        "n_clusters": int(result.n_clusters),
        "k_estimated": bool(result.k_estimated),
        "use_semantic": False,
        "merge_split": run.pop("merge_split"),
        "input": {"kind": kind, "source": ref.source, "normalization": NORMALIZATION[kind],
                  "n_cells": n_cells, "n_genes": int(stats.total.shape[0])},
        "cluster_params": h5ad_safe(result.params),
        "structure_params": {**structure, "n_neighbors": n_neighbors},
        "fit_timings_s": {k: round(float(v), 3) for k, v in result.timings.items()},
        "chunked": {"chunk_size": chunk_size, "n_chunks": len(ranges), "scheduler": scheduler,
                    **run},
        "notes": notes + stats.notes + empty + list(result.notes),
    }  # fmt: skip
    if label_key is not None:
        record.update(metrics=_score(path, label_key, labels), label_key=label_key)
    tick = time.perf_counter()
    record["diagnostics"] = read_and_warn(labels, latent, X_pca, None, seed)
    timings["diagnostics"] = time.perf_counter() - tick
    timings["total"] = time.perf_counter() - started
    record["pipeline_timings_s"] = {k: round(v, 3) for k, v in timings.items()}
    _write_output(ref, Path(output), latent, X_pca, labels, result.n_clusters, record, chunk_size)
    return record
