"""The honest benchmark: datasets × methods × seeds, each (dataset, method) in a fresh process.

Protocol (what `cellmodel bench` promises and `docs/benchmarks.md` restates):

- Every method gets an AnnData *without labels*: `hide_labels` keeps only the expression (X,
  layers, .raw) and the gene table; obs columns, obsm, obsp, uns and the cell names are dropped
  (a dataset's technical batch column, e.g. Baron's donor, is the one exception: every method gets
  it as obs["batch"] and corrects for it the same way),
  because datasets carry labels in more than one column (Baron's `cell_ontology_class` repeats
  `cell_type1`) and precomputed embeddings. Methods that take k receive the *number* of label
  classes (the protocol the published peers use), never the labels. Labels are read back only to
  score a finished run.
- Each (dataset, method) runs in its own subprocess with all its seeds inside; each seed is timed
  on its own (method call only: no data loading, no scoring) and the process's peak resident
  memory is reported once per (dataset, method), so one method's memory never inflates
  another's. Peak memory is the kernel's high-water mark of the process since its own exec
  (`VmHWM` in /proc/self/status): on Linux `getrusage(RUSAGE_SELF).ru_maxrss` of a child carries
  the parent's peak across fork + exec (measured: a parent at 408 MB gave a fresh child
  ru_maxrss 408 MB while its VmHWM was 11 MB), so ru_maxrss is recorded beside it but not used.
- Label-free preprocessing shared by several methods (building the store's vectors for the
  data's genes, embedding the cell sentences of the real and the control gene vectors into the
  sentence cache) is warmed once, up front, in its own process, and reported as such.

Methods live in a registry (`METHODS`, `register_method`); a worker imports the method's module,
so a method registered elsewhere (a test's spy) runs through the same subprocess path.
The scale mode runs the same machinery on synthetic counts (`synthetic_counts`) at given sizes
and fits the growth exponent of time in cells.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import math
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from genekb.errors import GenekbError, UnknownNameError, UsageError

DEFAULT_DATASETS: tuple[str, ...] = ("pbmc68k-reduced", "baron-human", "wu2020-200")
DEFAULT_SEEDS = 5
DEFAULT_SCALE: tuple[int, ...] = (10_000, 30_000, 100_000)
SCALE_METHODS: tuple[str, ...] = ("cellmodel", "pca-kmeans")
DEFAULT_TIMEOUT_S = 3600.0  # per (dataset, method) process
SYNTHETIC_PREFIX = "synthetic-"
SYNTHETIC_LABEL_KEY = "group"
SYNTHETIC_GENES = 2000
SYNTHETIC_GROUPS = 10
METRICS: tuple[str, ...] = ("acc", "nmi", "ari", "f1")
REPORT_FORMAT = "cellmodel-bench/1"
DOCS_MARKERS = {"bench": "registry datasets", "scale": "scale"}
# Control gene vectors (shuffled / random) are drawn once, with this seed, for every run seed: each
# control's sentences cost a full pass of the encoder, and the run seeds still vary everything
# else (PCA, graph, training, k-means).
CONTROL_SEED = 0
# The one obs column a method may see: the dataset's technical batch (e.g. Baron's donor), copied
# under this neutral name. Every method gets the same correction, so the comparison stays fair.
BATCH_COLUMN = "batch"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
PRELOAD: tuple[str, ...] = (
    "torch",
    "scanpy",
    "sklearn.cluster",
    "sklearn.decomposition",
    "sklearn.neighbors",
    "leidenalg",
    "cellmodel.pipeline",
    "cellmodel.embed",
    "cellmodel.metrics",
)

# ------------------------------------------------------------------------------------ methods


@dataclass
class MethodInput:
    """What a method sees: the label-free data, the number of label classes, and the settings."""

    adata: ad.AnnData
    n_classes: int
    seed: int
    root: str | None = None
    model: str = "minilm"
    device: str | None = None
    layer: str | None = None
    gene_key: str | None = None
    gene_vectors: str = "real"  # `--gene-vectors`: what methods on real vectors get instead

    @property
    def batch_key(self) -> str | None:
        """`BATCH_COLUMN` when the dataset names a technical batch (donor), else None."""
        return BATCH_COLUMN if BATCH_COLUMN in self.adata.obs else None

    def store(self) -> Any:
        from genekb.store.store import Store

        return Store.open(self.root, create=True)


@dataclass
class MethodOutput:
    labels: np.ndarray  # one cluster id per cell
    extras: dict[str, Any] = field(default_factory=dict)  # e.g. the Leiden resolution reached


MethodFn = Callable[[MethodInput], MethodOutput]


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    run: MethodFn
    module: str  # imported by the worker process so the registration happens there too
    needs_store: bool = False
    uses_k: bool = True
    gene_vectors: str | None = None  # which sentence-cache warm-up it needs (real/shuffled/random)
    sentences: bool = True  # whether that warm-up must embed cell sentences (not just gene vectors)


METHODS: dict[str, Method] = {}
BUILTIN_METHODS: list[str] = []  # display order of `--methods all`


def register_method(
    name: str,
    description: str,
    *,
    needs_store: bool = False,
    uses_k: bool = True,
    gene_vectors: str | None = None,
    sentences: bool = True,
    builtin: bool = False,
) -> Callable[[MethodFn], MethodFn]:
    """Add a method to the registry (module-level, so a worker process registers it on import)."""

    def decorate(fn: MethodFn) -> MethodFn:
        METHODS[name] = Method(
            name, description, fn, fn.__module__, needs_store, uses_k, gene_vectors, sentences
        )
        if builtin and name not in BUILTIN_METHODS:
            BUILTIN_METHODS.append(name)
        return fn

    return decorate


def get_method(name: str) -> Method:
    if name not in METHODS:
        raise UnknownNameError("bench method", name, list(METHODS))
    return METHODS[name]


def parse_methods(spec: str | Sequence[str] | None) -> list[str]:
    """Method names from "a,b,c" (or a list); None or "all" means every built-in method."""
    if spec is None or spec == "all":
        return list(BUILTIN_METHODS)
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        raise UsageError("--methods is empty; give names separated by commas, or 'all'")
    for name in names:
        get_method(name)
    return list(dict.fromkeys(names))


def _expression_pca(inp: MethodInput) -> np.ndarray:
    """The pipeline's own structure input: log-normalize, 2,000 HVG, scale, PCA 50."""
    from cellmodel import graph, io
    from cellmodel.pipeline import batch_values

    expr = io.expression(inp.adata, layer=inp.layer, gene_key=inp.gene_key)
    batch = batch_values(inp.adata, inp.batch_key)
    return graph.structure_features(expr.X, kind="log", batch=batch, seed=inp.seed)


def _knn(inp: MethodInput) -> Any:
    from cellmodel import graph

    return graph.knn_graph(_expression_pca(inp), graph.DEFAULT_N_NEIGHBORS, seed=inp.seed)


def _kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    return np.asarray(model.fit_predict(np.asarray(X, dtype=np.float32)), dtype=np.int64)


def leiden_labels(adjacency: Any, resolution: float, seed: int) -> np.ndarray:
    """scanpy's Leiden (its default flavour, leidenalg) on a given adjacency matrix."""
    import scanpy as sc

    n = adjacency.shape[0]
    holder = ad.AnnData(obs=pd.DataFrame(index=[str(i) for i in range(n)]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scanpy announces a future change of default flavour
        sc.tl.leiden(holder, resolution=resolution, adjacency=adjacency, random_state=seed)
    return holder.obs["leiden"].astype(int).to_numpy()


def leiden_to_k(
    adjacency: Any, k: int, seed: int, *, max_steps: int = 30, max_resolution: float = 64.0
) -> tuple[np.ndarray, float, int]:
    """Leiden with the resolution bisected until it gives `k` communities (labels, resolution,
    Leiden calls). The community count grows with resolution; when no resolution gives exactly
    k, the closest count wins (the lower resolution on ties)."""
    tried: dict[float, np.ndarray] = {}

    def count(resolution: float) -> int:
        if resolution not in tried:
            tried[resolution] = leiden_labels(adjacency, resolution, seed)
        return len(np.unique(tried[resolution]))

    lo, hi = 0.0, 1.0
    while count(hi) < k and hi < max_resolution:
        lo, hi = hi, hi * 2
    for _ in range(max_steps):
        if count(hi) == k:
            break
        mid = (lo + hi) / 2
        if count(mid) == k:
            hi = mid
            break
        lo, hi = (mid, hi) if count(mid) < k else (lo, mid)
    best = min(tried, key=lambda r: (abs(len(np.unique(tried[r])) - k), r))
    return tried[best], best, len(tried)


def _semantic_kmeans(inp: MethodInput, key: str, gene_vectors: str) -> MethodOutput:
    from cellmodel.embed import embed

    gene_vectors = inp.gene_vectors if gene_vectors == "real" else gene_vectors

    embed(
        inp.adata,
        inp.store(),
        model=inp.model,
        gene_key=inp.gene_key,
        layer=inp.layer,
        gene_vectors=gene_vectors,
        seed=CONTROL_SEED,
    )
    if key not in inp.adata.obsm:
        raise GenekbError(f"the semantic view {key} was not computed; check the embed options")
    from cellmodel.pipeline import batch_values, centre_per_batch

    view = inp.adata.obsm[key]
    batch = batch_values(inp.adata, inp.batch_key)
    if batch is not None:
        view = centre_per_batch(view, batch)  # as the pipeline treats its semantic view
    record = inp.adata.uns.get("cellmodel", {})
    match = (record.get("gene_match") or {}).get("match_rate")
    return MethodOutput(_kmeans(view, inp.n_classes, inp.seed), {"gene_match_rate": match})


def _pipeline(
    inp: MethodInput,
    *,
    use_semantic: bool = True,
    given_k: bool = True,
    gene_vectors: str = "real",
    **options: Any,
) -> MethodOutput:
    from cellmodel.pipeline import CLUSTER_KEY, cluster

    gene_vectors = inp.gene_vectors if gene_vectors == "real" else gene_vectors
    cluster(
        inp.adata,
        inp.store() if use_semantic else None,
        control_seed=CONTROL_SEED,
        n_clusters=inp.n_classes if given_k else None,
        use_semantic=use_semantic,
        model=inp.model,
        gene_vectors=gene_vectors,
        gene_key=inp.gene_key,
        layer=inp.layer,
        batch_key=inp.batch_key,
        seed=inp.seed,
        device=inp.device,
        **options,
    )
    record = inp.adata.uns["cellmodel"]
    extras = {
        "k_used": int(record["n_clusters"]),
        "gene_match_rate": (record.get("gene_match") or {}).get("match_rate"),
        "fit_s": (record.get("pipeline_timings_s") or {}).get("fit"),
    }
    return MethodOutput(inp.adata.obs[CLUSTER_KEY].astype(int).to_numpy(), extras)


@register_method(
    "pca-kmeans",
    "log-normalize, 2,000 HVG, scale, PCA 50 (the pipeline's structure input), k-means with k ="
    " number of label classes, 10 restarts: what the published peers report as their baseline",
    builtin=True,
)
def _pca_kmeans(inp: MethodInput) -> MethodOutput:
    return MethodOutput(_kmeans(_expression_pca(inp), inp.n_classes, inp.seed))


@register_method(
    "leiden",
    "scanpy Leiden (leidenalg, its defaults) at resolution 1 on the pipeline's kNN graph (15"
    " neighbours over PCA 50); k is not given, it finds its own",
    uses_k=False,
    builtin=True,
)
def _leiden(inp: MethodInput) -> MethodOutput:
    return MethodOutput(leiden_labels(_knn(inp).adjacency, 1.0, inp.seed), {"resolution": 1.0})


@register_method(
    "leiden-k",
    "the same Leiden with its resolution bisected until it gives k = number of label classes"
    " (how peers give Leiden the true k)",
    builtin=True,
)
def _leiden_k(inp: MethodInput) -> MethodOutput:
    labels, resolution, calls = leiden_to_k(_knn(inp).adjacency, inp.n_classes, inp.seed)
    return MethodOutput(labels, {"resolution": round(resolution, 6), "leiden_calls": calls})


@register_method(
    "semantic-w",
    "k-means on the weighted semantic path alone (expression-weighted gene-text vectors)",
    needs_store=True,
    gene_vectors="real",
    builtin=True,
)
def _semantic_w(inp: MethodInput) -> MethodOutput:
    return _semantic_kmeans(inp, "X_semantic_w", "real")


@register_method(
    "semantic-s",
    "k-means on the sentence semantic path alone (each cell's top genes as a sentence, embedded)",
    needs_store=True,
    gene_vectors="real",
    builtin=True,
)
def _semantic_s(inp: MethodInput) -> MethodOutput:
    return _semantic_kmeans(inp, "X_semantic_s", "real")


@register_method(
    "semantic",
    "k-means on the fused semantic view (weighted + sentence), no expression structure",
    needs_store=True,
    gene_vectors="real",
    builtin=True,
)
def _semantic(inp: MethodInput) -> MethodOutput:
    return _semantic_kmeans(inp, "X_semantic", "real")


@register_method(
    "semantic-shuffled",
    "control: 'semantic' with the gene vectors (and sentence gene names) shuffled across genes",
    needs_store=True,
    gene_vectors="shuffled",
    builtin=True,
)
def _semantic_shuffled(inp: MethodInput) -> MethodOutput:
    return _semantic_kmeans(inp, "X_semantic", "shuffled")


@register_method(
    "semantic-random",
    "control: 'semantic' with random Gaussian gene vectors (and random tokens as gene names)",
    needs_store=True,
    gene_vectors="random",
    builtin=True,
)
def _semantic_random(inp: MethodInput) -> MethodOutput:
    return _semantic_kmeans(inp, "X_semantic", "random")


@register_method(
    "structure",
    "the graph encoder alone: the cellmodel pipeline without any semantic view, k given",
    builtin=True,
)
def _structure(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, use_semantic=False)


@register_method(
    "cellmodel",
    "the default pipeline, k given: ComBat on the batch column where there is one, graph encoder"
    " + OT refinement; the weighted semantic view is computed for `cellmodel explain` and does not"
    " enter the fit (so its labels equal `structure`'s; the time includes the semantic view)",
    needs_store=True,
    gene_vectors="real",
    sentences=False,  # the default fit uses the weighted path only
    builtin=True,
)
def _cellmodel(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp)


@register_method(
    "cellmodel-auto",
    "the default pipeline with k estimated from the data (Leiden on the kNN graph), not given",
    needs_store=True,
    uses_k=False,
    gene_vectors="real",
    sentences=False,  # the default fit uses the weighted path only
    builtin=True,
)
def _cellmodel_auto(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, given_k=False)


@register_method(
    "cellmodel-no-ot",
    "ablation: the default pipeline without the OT-guided refinement (k-means labels on the"
    " pretrained latent)",
    builtin=True,
)
def _cellmodel_no_ot(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, use_semantic=False, use_ot=False)


@register_method(
    "cellmodel-aligned",
    "the two-view design: the fused semantic view (weighted + sentences) aligned to the structure"
    " view by symmetric InfoNCE and concatenated into the clustered latent (--align-semantic)",
    needs_store=True,
    gene_vectors="real",
    builtin=True,
)
def _cellmodel_aligned(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, align_semantic=True)


@register_method(
    "cellmodel-concat",
    "ablation of the two-view design without alignment: the semantic latent concatenated, no"
    " InfoNCE (alignment_weight=0)",
    needs_store=True,
    gene_vectors="real",
    builtin=True,
)
def _cellmodel_concat(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, align_semantic=True, alignment_weight=0.0)


@register_method(
    "cellmodel-aligned-shuffled",
    "control: the two-view design on gene vectors shuffled across genes",
    needs_store=True,
    gene_vectors="shuffled",
    builtin=True,
)
def _cellmodel_aligned_shuffled(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, align_semantic=True, gene_vectors="shuffled")


@register_method(
    "cellmodel-aligned-random",
    "control: the two-view design on random Gaussian gene vectors",
    needs_store=True,
    gene_vectors="random",
    builtin=True,
)
def _cellmodel_aligned_random(inp: MethodInput) -> MethodOutput:
    return _pipeline(inp, align_semantic=True, gene_vectors="random")


# ----------------------------------------------------------------------------------- datasets


@dataclass(frozen=True)
class DatasetRef:
    """A dataset to bench: a registry name, an .h5ad path (with its label key), or synthetic-N."""

    name: str
    kind: str  # "registry" | "h5ad" | "synthetic"
    path: str | None = None
    label_key: str | None = None
    n_cells: int | None = None
    batch_key: str | None = None  # obs column of a technical batch, given to every method

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


def parse_datasets(
    spec: str | Sequence[str] | None, label_key: str | None = None
) -> list[DatasetRef]:
    """Datasets from "a,b" (registry names, .h5ad paths, synthetic-N); None: the default three."""
    from cellmodel import datasets

    names = list(DEFAULT_DATASETS) if spec is None else spec
    if isinstance(names, str):
        names = names.split(",")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise UsageError("--datasets is empty; give names or .h5ad paths separated by commas")
    registry = [d.name for d in datasets.list_datasets()]
    refs: list[DatasetRef] = []
    for name in dict.fromkeys(names):
        if name in registry:
            entry = datasets.get(name)
            refs.append(
                DatasetRef(name, "registry", label_key=entry.label_key, batch_key=entry.batch_key)
            )
        elif name.startswith(SYNTHETIC_PREFIX) and name[len(SYNTHETIC_PREFIX) :].isdigit():
            n = int(name[len(SYNTHETIC_PREFIX) :])
            if n < SYNTHETIC_GROUPS * 3:
                raise UsageError(
                    f"{name}: synthetic data needs at least {SYNTHETIC_GROUPS * 3} cells"
                )
            refs.append(DatasetRef(name, "synthetic", label_key=SYNTHETIC_LABEL_KEY, n_cells=n))
        elif Path(name).suffix == ".h5ad":
            refs.append(_h5ad_ref(Path(name), label_key))
        else:
            raise UsageError(
                f"unknown dataset {name!r}; choose from {', '.join(registry)}, an .h5ad path"
                f" (with --label-key), or {SYNTHETIC_PREFIX}N for N synthetic cells"
            )
    stems = [r.name for r in refs]
    if len(set(stems)) != len(stems):
        raise UsageError(f"two datasets share the name {stems}; rename one of the files")
    return refs


def _h5ad_ref(path: Path, label_key: str | None) -> DatasetRef:
    if not path.exists():
        raise GenekbError(f"dataset file {path} does not exist")
    if label_key is None:
        raise UsageError(f"{path} needs --label-key: the obs column with the reference labels")
    try:
        backed = ad.read_h5ad(path, backed="r")
    except Exception as exc:  # h5py and anndata raise many kinds on foreign files
        raise GenekbError(f"{path} is not a readable h5ad file ({exc})") from None
    try:
        columns = list(backed.obs.columns)
    finally:
        backed.file.close()
    if label_key not in columns:
        raise GenekbError(
            f"label key {label_key!r} is not an obs column of {path}; choose from {columns}"
        )
    return DatasetRef(path.stem, "h5ad", path=str(path.resolve()), label_key=label_key)


def synthetic_symbols(n_genes: int = SYNTHETIC_GENES) -> list[str]:
    """A fixed sample of real human protein-coding symbols (the same for every size, so one store
    build serves every scale step)."""
    from genekb.sources.bundled import load_bundled

    table = load_bundled("human").table.select(["gene_id", "symbol", "gene_type"]).to_pandas()
    coding = table[table["gene_type"] == "protein-coding"].sort_values("gene_id")
    symbols = coding["symbol"].drop_duplicates().to_numpy()
    if n_genes > symbols.size:
        raise UsageError(f"only {symbols.size} protein-coding symbols for {n_genes} genes")
    pick = np.random.default_rng(0).choice(symbols.size, n_genes, replace=False)
    return [str(s) for s in symbols[np.sort(pick)]]


def synthetic_counts(
    n_cells: int,
    *,
    n_genes: int = SYNTHETIC_GENES,
    n_groups: int = SYNTHETIC_GROUPS,
    seed: int = 0,
    chunk: int = 5000,
) -> ad.AnnData:
    """Negative-binomial counts with known groups: `obs["group"]` holds the truth.

    Gene means are log-normal (about 2,000 UMIs per cell over 2,000 genes); each group raises 2% of
    the genes by a log-normal fold (median e ≈ 2.7×) and lowers another 2% by the same kind of
    fold; group sizes follow a Dirichlet(2) draw; each cell has a log-normal size factor; counts
    are NB with dispersion 2 (variance = mean + mean²/2). Built in chunks, stored as sparse CSR.
    The folds are chosen so the groups are findable but not trivial (2,000 cells, seed 0: ARI
    0.69 for pca-kmeans, 0.94 for leiden; with 3% markers and e^1.5 folds both reached 1.0).
    """
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    base = rng.lognormal(mean=-1.0, sigma=1.5, size=n_genes)
    log_fold = np.zeros((n_groups, n_genes))
    n_markers = max(1, int(0.02 * n_genes))
    for g in range(n_groups):
        up, down = np.split(rng.choice(n_genes, 2 * n_markers, replace=False), 2)
        log_fold[g, up] = rng.normal(1.0, 0.5, n_markers)
        log_fold[g, down] = -rng.normal(1.0, 0.5, n_markers)
    means = base[None, :] * np.exp(log_fold)
    shares = rng.dirichlet(np.full(n_groups, 2.0))
    groups = rng.choice(n_groups, n_cells, p=shares)
    size = rng.lognormal(0.0, 0.4, n_cells)
    theta = 2.0
    blocks = []
    for start in range(0, n_cells, chunk):
        mu = size[start : start + chunk, None] * means[groups[start : start + chunk]]
        counts = rng.negative_binomial(theta, theta / (theta + mu)).astype(np.float32)
        blocks.append(sp.csr_matrix(counts))
    obs = pd.DataFrame(
        {SYNTHETIC_LABEL_KEY: pd.Categorical([f"g{g}" for g in groups])},
        index=[f"s{i}" for i in range(n_cells)],
    )
    return ad.AnnData(
        X=sp.vstack(blocks).tocsr(), obs=obs, var=pd.DataFrame(index=synthetic_symbols(n_genes))
    )


def load_dataset(ref: DatasetRef, root: str | None) -> ad.AnnData:
    from cellmodel import datasets, io

    if ref.kind == "registry":
        return datasets.load(ref.name, cache_dir=datasets.default_cache_dir(root))
    if ref.kind == "synthetic":
        assert ref.n_cells is not None
        return synthetic_counts(ref.n_cells)
    assert ref.path is not None
    return io.read(ref.path)


def hide_labels(adata: ad.AnnData, batch_key: str | None = None) -> ad.AnnData:
    """The expression alone: X, layers, .raw and the gene table; no obs column (but the batch
    column, as `BATCH_COLUMN`), obsm, obsp or uns, and cells renamed cell0..cellN-1 (names can
    encode labels too)."""
    obs = pd.DataFrame(index=[f"cell{i}" for i in range(adata.n_obs)])
    if batch_key is not None:
        if batch_key not in adata.obs:
            raise GenekbError(f"batch key {batch_key!r} is not an obs column of the dataset")
        obs[BATCH_COLUMN] = pd.Categorical(adata.obs[batch_key].astype(str).to_numpy())
    blind = ad.AnnData(X=adata.X, obs=obs, var=adata.var.copy(), layers=dict(adata.layers.items()))
    if adata.raw is not None:
        blind.raw = ad.AnnData(X=adata.raw.X, obs=obs, var=adata.raw.var.copy())
    return blind


def reference_labels(adata: ad.AnnData, label_key: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Labels as strings, the mask of labelled cells, and k = the number of label classes."""
    if label_key not in adata.obs:
        raise GenekbError(
            f"label key {label_key!r} is not an obs column; choose from {list(adata.obs.columns)}"
        )
    column = adata.obs[label_key]
    mask = column.notna().to_numpy()
    if not mask.any():
        raise GenekbError(f"obs[{label_key!r}] holds no labels")
    labels = column.astype(str).to_numpy()
    return labels, mask, len(np.unique(labels[mask]))


# ------------------------------------------------------------------------------- the worker side


def peak_rss_mb() -> tuple[float, float]:
    """(peak resident MB of this process since its exec, ru_maxrss MB) — see the module doc."""
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ru_mb = usage / 2**20 if sys.platform == "darwin" else usage / 1024
    try:
        status = Path("/proc/self/status").read_text()
        hwm = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
        return int(hwm.split()[1]) / 1024, ru_mb
    except (OSError, StopIteration, ValueError):
        return ru_mb, ru_mb


def _reset(blind: ad.AnnData, var: pd.DataFrame, layers: set[str]) -> None:
    """Undo what a seed's run wrote, so the next seed starts from the same label-free input."""
    for column in [c for c in blind.obs.columns if c != BATCH_COLUMN]:
        del blind.obs[column]
    for mapping in (blind.obsm, blind.obsp, blind.varm):
        for key in list(mapping.keys()):
            del mapping[key]
    for key in [k for k in blind.layers if k not in layers]:
        del blind.layers[key]
    blind.uns.clear()
    blind.var = var.copy()


def _preload() -> None:
    """Import what the methods use before any timing, so seed 0 does not pay for imports (every
    method's process then also starts from the same memory baseline)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for module in PRELOAD:
            importlib.import_module(module)


def run_cell(job: dict[str, Any]) -> dict[str, Any]:
    """One (dataset, method) with all its seeds; the body of a worker process."""
    importlib.import_module(job["method_module"])
    method = get_method(job["method"])
    if job.get("preload", True):
        _preload()
    ref = DatasetRef(**job["dataset"])
    tick = time.perf_counter()
    adata = load_dataset(ref, job.get("root"))
    assert ref.label_key is not None
    labels, mask, k = reference_labels(adata, ref.label_key)
    blind = hide_labels(adata, ref.batch_key)
    del adata
    load_seconds = time.perf_counter() - tick
    baseline_mb, _ = peak_rss_mb()
    var, layers = blind.var.copy(), set(blind.layers.keys())
    from cellmodel.metrics import cluster_metrics

    runs = []
    for seed in job["seeds"]:
        _reset(blind, var, layers)
        inp = MethodInput(
            adata=blind,
            n_classes=k,
            seed=int(seed),
            root=job.get("root"),
            model=job.get("model", "minilm"),
            device=job.get("device"),
            layer=job.get("layer"),
            gene_key=job.get("gene_key"),
            gene_vectors=job.get("gene_vectors", "real"),
        )
        tick = time.perf_counter()
        out = method.run(inp)
        seconds = time.perf_counter() - tick
        predicted = np.asarray(out.labels)
        if predicted.shape != (blind.n_obs,):
            raise GenekbError(
                f"method {method.name} returned {predicted.shape} labels for {blind.n_obs} cells"
            )
        # Labels are read only here, after the run has ended.
        scores = cluster_metrics(labels[mask], predicted[mask])
        runs.append(
            {
                "seed": int(seed),
                **{m: round(float(scores[m]), 6) for m in METRICS},
                "seconds": round(seconds, 4),
                "n_clusters": len(np.unique(predicted)),
                "extras": _jsonable(out.extras),
            }
        )
    peak_mb, ru_mb = peak_rss_mb()
    return {
        "status": "ok",
        "n_cells": int(blind.n_obs),
        "n_labelled": int(mask.sum()),
        "n_classes": int(k),
        "load_seconds": round(load_seconds, 3),
        "baseline_rss_mb": round(baseline_mb, 1),
        "peak_rss_mb": round(peak_mb, 1),
        "ru_maxrss_mb": round(ru_mb, 1),
        "runs": runs,
    }


def run_warmup(job: dict[str, Any]) -> dict[str, Any]:
    """Warm the store (vectors for the data's genes) and the sentence cache, label-free."""
    from cellmodel.embed import embed
    from genekb.store.store import Store

    ref = DatasetRef(**job["dataset"])
    adata = load_dataset(ref, job.get("root"))
    blind = hide_labels(adata)
    del adata
    store = Store.open(job.get("root"), create=True)
    steps = []
    var = blind.var.copy()
    for gene_vectors, seed in job["controls"]:
        _reset(blind, var, set(blind.layers.keys()))
        tick = time.perf_counter()
        embed(
            blind,
            store,
            model=job.get("model", "minilm"),
            gene_key=job.get("gene_key"),
            layer=job.get("layer"),
            gene_vectors=gene_vectors,
            seed=int(seed),
            **({} if job.get("sentences", True) else {"sentence_top_n": 0}),
        )
        sentences = blind.uns["cellmodel"].get("sentences", {})
        steps.append(
            {
                "gene_vectors": gene_vectors,
                "seed": int(seed),
                "seconds": round(time.perf_counter() - tick, 3),
                "sentences_embedded": sentences.get("n_embedded", sentences.get("embedded")),
            }
        )
    peak_mb, ru_mb = peak_rss_mb()
    return {
        "status": "ok",
        "steps": steps,
        "peak_rss_mb": round(peak_mb, 1),
        "ru_maxrss_mb": round(ru_mb, 1),
    }


def worker_main(argv: Sequence[str] | None = None) -> None:
    """Entry of a worker process: run the job file's job and write its result file."""
    args = list(sys.argv[1:] if argv is None else argv)
    job = json.loads(Path(args[0]).read_text())
    try:
        result = run_warmup(job) if job.get("kind") == "warmup" else run_cell(job)
        code = 0
    except BaseException as exc:  # the parent must learn why, whatever it was
        traceback.print_exc()
        result = {"status": "failed", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]}
        code = 1
    _write_json(Path(job["result_path"]), result)
    sys.exit(code)


# ------------------------------------------------------------------------------- the parent side


@dataclass
class BenchConfig:
    datasets: list[DatasetRef]
    methods: list[str]
    seeds: list[int]
    out: Path
    root: str | None = None
    model: str = "minilm"
    device: str | None = None
    layer: str | None = None
    gene_key: str | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    warm: bool = True
    command: str = ""
    scale: bool = False
    threads: int | None = None  # BLAS/OpenMP/torch threads per worker; None: library defaults
    gene_vectors: str = "real"  # a control here replaces the real vectors of every method
    preload: bool = True  # import the methods' libraries before timing (tests of plumbing skip it)


Log = Callable[[str], None]


def _spawn(
    job: dict[str, Any], log_path: Path, timeout_s: float, threads: int | None = None
) -> tuple[dict[str, Any], float]:
    """Run one job in a fresh interpreter; returns its result and the process's wall seconds."""
    with tempfile.TemporaryDirectory(prefix="cellmodel-bench-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        _write_json(job_path, {**job, "result_path": str(result_path)})
        env = dict(os.environ)
        # The worker must import exactly what this process can (the repo, a test's spy module).
        paths = [p for p in sys.path if p] + env.get("PYTHONPATH", "").split(os.pathsep)
        env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(p for p in paths if p))
        if threads is not None:
            # Read by OpenBLAS, MKL, OpenMP and torch when the worker starts.
            env.update({name: str(threads) for name in THREAD_VARIABLES})
        code = "from cellmodel.bench import worker_main; worker_main()"
        tick = time.perf_counter()
        with log_path.open("w") as log:
            try:
                done = subprocess.run(
                    [sys.executable, "-c", code, str(job_path)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return {"status": "failed", "error": f"timed out after {timeout_s:.0f} s"}, (
                    time.perf_counter() - tick
                )
        wall = time.perf_counter() - tick
        if result_path.exists():
            return json.loads(result_path.read_text()), wall
        return {
            "status": "failed",
            "error": f"the worker died with exit code {done.returncode} (out of memory?)",
        }, wall


def warmup_controls(
    methods: Sequence[str], seeds: Sequence[int], gene_vectors: str = "real"
) -> list[tuple[str, int]]:
    """(gene_vectors, seed) pairs whose sentences the selected methods will need; with a control
    as `gene_vectors`, the methods on real vectors need that control instead."""
    wanted = {get_method(m).gene_vectors for m in methods} - {None}
    if gene_vectors != "real" and "real" in wanted:
        wanted = (wanted - {"real"}) | {gene_vectors}
    pairs: list[tuple[str, int]] = []
    if "real" in wanted:
        pairs.append(("real", int(seeds[0])))  # real sentences do not depend on the seed
    for control in ("shuffled", "random"):
        if control in wanted:
            pairs.append((control, CONTROL_SEED))
    return pairs


def run_bench(config: BenchConfig, log: Log = print) -> dict[str, Any]:
    """Warm up, run every (dataset, method) in its own process, aggregate, write the outputs."""
    from cellmodel import datasets

    if not config.seeds:
        raise UsageError("--seeds must be at least 1")
    started = time.perf_counter()
    machine = machine_info()  # the load average before the bench adds its own
    config.out.mkdir(parents=True, exist_ok=True)
    logs = config.out / "logs"
    logs.mkdir(exist_ok=True)
    common = {
        "root": config.root,
        "model": config.model,
        "device": config.device,
        "layer": config.layer,
        "gene_key": config.gene_key,
        "gene_vectors": config.gene_vectors,
    }
    for ref in config.datasets:
        if ref.kind == "registry":  # download once, before any timing
            datasets.fetch(ref.name, cache_dir=datasets.default_cache_dir(config.root))

    warmups = []
    controls = warmup_controls(config.methods, config.seeds, config.gene_vectors)
    if config.warm and controls:
        for ref in config.datasets:
            log(f"warm-up {ref.name}: store vectors and sentence cache ({len(controls)} passes)")
            job = {
                "kind": "warmup",
                "dataset": ref.to_dict(),
                "controls": controls,
                # Sentences cost a pass of the encoder per cell: warm them only when a method
                # selected here embeds them.
                "sentences": any(
                    get_method(m).sentences for m in config.methods if get_method(m).gene_vectors
                ),
                **common,
            }
            result, wall = _spawn(
                job, logs / f"{ref.name}__warmup.log", config.timeout_s, config.threads
            )
            warmups.append({"dataset": ref.name, "process_seconds": round(wall, 2), **result})
            if result["status"] != "ok":
                log(f"  warm-up failed: {result['error']} (see {logs / ref.name}__warmup.log)")

    cells: list[dict[str, Any]] = []
    runs: list[dict[str, Any]] = []
    total = len(config.datasets) * len(config.methods)
    for ref in config.datasets:
        for method in config.methods:
            m = get_method(method)
            job = {
                "dataset": ref.to_dict(),
                "method": method,
                "method_module": m.module,
                "seeds": list(config.seeds),
                "preload": config.preload,
                **common,
            }
            log_path = logs / f"{ref.name}__{method}.log"
            result, wall = _spawn(job, log_path, config.timeout_s, config.threads)
            cell_runs = result.pop("runs", [])
            cell = {
                "dataset": ref.name,
                "method": method,
                "process_seconds": round(wall, 2),
                "log": str(log_path),
                **result,
            }
            cells.append(cell)
            runs += [{"dataset": ref.name, "method": method, **r} for r in cell_runs]
            log(f"[{len(cells)}/{total}] {ref.name} × {method}: " + _cell_line(cell, cell_runs))

    report = {
        "format": REPORT_FORMAT,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": config.command,
        "machine": machine,
        "config": {
            "datasets": [r.to_dict() for r in config.datasets],
            "methods": list(config.methods),
            "seeds": list(config.seeds),
            **{k: v for k, v in common.items()},
            "warm": config.warm,
            "timeout_s": config.timeout_s,
            "threads": config.threads,
        },
        "protocol": PROTOCOL,
        "methods": {m: get_method(m).description for m in config.methods},
        "warmup": warmups,
        "cells": cells,
        "runs": runs,
        "summary": summarize(runs, cells),
        "failures": [
            {"dataset": c["dataset"], "method": c["method"], "error": c.get("error")}
            for c in cells
            if c["status"] != "ok"
        ]
        + [
            {"dataset": w["dataset"], "method": "warm-up", "error": w.get("error")}
            for w in warmups
            if w["status"] != "ok"
        ],
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    if config.scale:
        report["scale"] = scale_summary(report["summary"], warmups)
    write_outputs(report, config.out)
    return report


def _cell_line(cell: dict[str, Any], runs: list[dict[str, Any]]) -> str:
    if cell["status"] != "ok":
        return f"FAILED ({cell.get('error')}); log {cell['log']}"
    ari = mean_std([r["ari"] for r in runs])
    secs = mean_std([r["seconds"] for r in runs])
    return (
        f"ARI {_fmt(ari)}, {_fmt(secs, 1)} s/seed, peak {cell['peak_rss_mb']:.0f} MB,"
        f" process {cell['process_seconds']:.0f} s"
    )


PROTOCOL = {
    "labels": "each method gets the expression without obs columns, obsm, obsp, uns or cell"
    " names; labels are read only to score a finished run",
    "batch": "where the registry names a technical batch column (baron-human: donor), every method"
    " gets it and corrects for it alike: ComBat before the PCA, per-batch centring of semantic"
    " views",
    "k": "methods that take k get the number of label classes (the count, not the labels), the"
    " protocol of the published peers; leiden and cellmodel-auto find their own",
    "isolation": "each (dataset, method) runs in a fresh process with all its seeds inside",
    "seconds": "wall seconds of the method call per seed (no imports, no data loading, no scoring)",
    "memory": "peak resident memory (VmHWM) of that process, imports and data loading included"
    " (every method's process preloads the same libraries, so baselines match)",
    "warm-up": "store vectors for the data's genes and the sentence cache (real and control gene"
    " vectors) are computed once up front in their own process and reported apart",
    "std": "sample standard deviation over seeds (ddof=1); none with a single seed",
}


# ---------------------------------------------------------------------------------- aggregation


def mean_std(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (ddof=1; None for fewer than two values)."""
    if not values:
        return math.nan, None
    array = np.asarray(values, dtype=float)
    return float(array.mean()), (float(array.std(ddof=1)) if array.size > 1 else None)


def summarize(
    runs: Sequence[dict[str, Any]], cells: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """One row per (dataset, method): every metric and the seconds as mean ± std over seeds."""
    rows = []
    for cell in cells:
        mine = [
            r for r in runs if r["dataset"] == cell["dataset"] and r["method"] == cell["method"]
        ]
        row: dict[str, Any] = {
            "dataset": cell["dataset"],
            "method": cell["method"],
            "status": cell["status"],
            "n_seeds": len(mine),
            "n_cells": cell.get("n_cells"),
            "n_classes": cell.get("n_classes"),
            "peak_rss_mb": cell.get("peak_rss_mb"),
        }
        for key in (*METRICS, "seconds", "n_clusters"):
            mean, std = mean_std([float(r[key]) for r in mine])
            row[key] = {
                "mean": None if math.isnan(mean) else round(mean, 6),
                "std": None if std is None else round(std, 6),
            }
        rows.append(row)
    return rows


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float | None:
    """Slope of log(seconds) against log(cells): 1 is linear growth; None with < 2 sizes."""
    pairs = [(n, s) for n, s in zip(sizes, seconds, strict=True) if n > 0 and s and s > 0]
    if len({n for n, _ in pairs}) < 2:
        return None
    x = np.log([n for n, _ in pairs])
    y = np.log([s for _, s in pairs])
    return float(np.polyfit(x, y, 1)[0])


def scale_summary(
    summary: Sequence[dict[str, Any]], warmups: Sequence[dict[str, Any]]
) -> dict[str, Any]:
    """Per method: cells, seconds per seed, peak memory, and the fitted growth exponent."""
    warm_s = {w["dataset"]: sum(s["seconds"] for s in w.get("steps", [])) for w in warmups}
    out: dict[str, Any] = {}
    for method in dict.fromkeys(r["method"] for r in summary):
        rows = [r for r in summary if r["method"] == method and r["status"] == "ok"]
        rows.sort(key=lambda r: r["n_cells"] or 0)
        points = [
            {
                "dataset": r["dataset"],
                "n_cells": r["n_cells"],
                "seconds": r["seconds"]["mean"],
                "peak_rss_mb": r["peak_rss_mb"],
                "ari": r["ari"]["mean"],
                "warmup_seconds": warm_s.get(r["dataset"])
                if get_method(method).needs_store
                else None,
            }
            for r in rows
        ]
        out[method] = {
            "points": points,
            "growth_exponent": growth_exponent(
                [p["n_cells"] for p in points], [p["seconds"] for p in points]
            ),
        }
    return out


# ------------------------------------------------------------------------------------- outputs


def _fmt(value: tuple[float, float | None] | dict[str, Any] | None, digits: int = 3) -> str:
    if value is None:
        return "–"
    mean, std = (value["mean"], value["std"]) if isinstance(value, dict) else value
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "–"
    return f"{mean:.{digits}f}" + ("" if std is None else f" ± {std:.{digits}f}")


def render_markdown(report: dict[str, Any]) -> str:
    """The tables of a report: ARI overview, one table per dataset, warm-up, failures, scale."""
    summary = report["summary"]
    datasets = list(dict.fromkeys(r["dataset"] for r in summary))
    methods = list(dict.fromkeys(r["method"] for r in summary))
    seeds = report["config"]["seeds"]
    lines = [f"Mean ± sample std over {len(seeds)} seed(s) ({', '.join(map(str, seeds))}).", ""]
    control = report["config"].get("gene_vectors", "real")
    if control != "real":
        lines += [
            f"**Control run:** `--gene-vectors {control}` replaced the real gene vectors of every"
            " method that uses them.",
            "",
        ]
    by_key = {(r["dataset"], r["method"]): r for r in summary}
    lines += ["ARI by method and dataset:", ""]
    lines += [_row(["method", *datasets]), _row(["---"] * (len(datasets) + 1))]
    for method in methods:
        cells = [_cell_text(by_key.get((d, method)), "ari") for d in datasets]
        lines.append(_row([method, *cells]))
    for dataset in datasets:
        first = next(r for r in summary if r["dataset"] == dataset)
        lines += [
            "",
            f"**{dataset}** ({first['n_cells'] or '?'} cells, k = {first['n_classes'] or '?'}"
            " label classes):",
            "",
            _row(
                ["method", "ACC", "NMI", "ARI", "macro-F1", "s / seed", "peak RSS MB", "clusters"]
            ),
            _row(["---"] * 8),
        ]
        for method in methods:
            r = by_key.get((dataset, method))
            if r is None:
                continue
            if r["status"] != "ok":
                lines.append(_row([method, *(["failed"] + ["–"] * 6), "–"]))
                continue
            lines.append(
                _row(
                    [
                        method,
                        *(_fmt(r[m]) for m in METRICS),
                        _fmt(r["seconds"], 2),
                        f"{r['peak_rss_mb']:.0f}",
                        _fmt(r["n_clusters"], 1),
                    ]
                )
            )
    if report.get("warmup"):
        lines += [
            "",
            "Warm-up (label-free, shared, once per dataset; not in the seconds above):",
            "",
            _row(["dataset", "passes (gene vectors × seeds)", "seconds", "peak RSS MB"]),
            _row(["---"] * 4),
        ]
        for w in report["warmup"]:
            steps = w.get("steps", [])
            secs = sum(s["seconds"] for s in steps) if steps else None
            lines.append(
                _row(
                    [
                        w["dataset"],
                        str(len(steps)) if w["status"] == "ok" else f"failed: {w.get('error')}",
                        "–" if secs is None else f"{secs:.1f}",
                        "–" if w.get("peak_rss_mb") is None else f"{w['peak_rss_mb']:.0f}",
                    ]
                )
            )
    if report.get("scale"):
        lines += ["", *render_scale(report["scale"])]
    if report["failures"]:
        lines += ["", "Failures:", ""]
        lines += [f"- {f['dataset']} × {f['method']}: {f['error']}" for f in report["failures"]]
    lines += ["", f"Whole bench: {report['total_seconds']:.0f} s wall."]
    return "\n".join(lines) + "\n"


def render_scale(scale: dict[str, Any]) -> list[str]:
    lines = [
        "Scale (synthetic NB counts, 2,000 real gene symbols, 10 groups, see"
        " `cellmodel.bench.synthetic_counts`; seconds = method call per seed):",
        "",
        _row(["method", "cells", "s / seed", "peak RSS MB", "ARI", "warm-up s (sentences, store)"]),
        _row(["---"] * 6),
    ]
    for method, data in scale.items():
        for p in data["points"]:
            warm = p.get("warmup_seconds")
            lines.append(
                _row(
                    [
                        method,
                        f"{p['n_cells']:,}",
                        f"{p['seconds']:.1f}",
                        f"{p['peak_rss_mb']:.0f}",
                        f"{p['ari']:.3f}",
                        "–" if warm is None else f"{warm:.0f}",
                    ]
                )
            )
    lines += [""]
    for method, data in scale.items():
        exponent = data["growth_exponent"]
        text = "needs two sizes" if exponent is None else f"{exponent:.2f}"
        lines.append(f"- {method}: time grows as cells^{text} (slope of log time vs log cells)")
    return lines


def _cell_text(row: dict[str, Any] | None, key: str) -> str:
    if row is None:
        return "–"
    return "failed" if row["status"] != "ok" else _fmt(row[key])


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def plot_ari(report: dict[str, Any], path: Path) -> Path:
    """Grouped bars: ARI per method (groups) and dataset (bars), error bars = sample std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary = [r for r in report["summary"] if r["status"] == "ok"]
    datasets = list(dict.fromkeys(r["dataset"] for r in report["summary"]))
    methods = list(dict.fromkeys(r["method"] for r in report["summary"]))
    by_key = {(r["dataset"], r["method"]): r for r in summary}
    width = 0.8 / max(len(datasets), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(methods) * max(len(datasets), 1) + 2), 4.5))
    x = np.arange(len(methods))
    for i, dataset in enumerate(datasets):
        means = [((by_key.get((dataset, m)) or {}).get("ari") or {}).get("mean") for m in methods]
        stds = [((by_key.get((dataset, m)) or {}).get("ari") or {}).get("std") for m in methods]
        ax.bar(
            x + (i - (len(datasets) - 1) / 2) * width,
            [np.nan if v is None else v for v in means],
            width,
            yerr=[0.0 if s is None else s for s in stds],
            capsize=2,
            label=dataset,
        )
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=40, ha="right")
    ax.set_ylabel("ARI (mean ± std over seeds)")
    ax.set_ylim(min(0.0, ax.get_ylim()[0]), 1.0)
    ax.axhline(0.0, color="black", linewidth=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def write_outputs(report: dict[str, Any], out: Path) -> dict[str, Path]:
    """bench.json, bench.md and ari.png in `out`."""
    files = {"json": out / "bench.json", "markdown": out / "bench.md", "chart": out / "ari.png"}
    report["files"] = {k: str(v) for k, v in files.items()}
    _write_json(files["json"], report)
    _write_text(files["markdown"], render_markdown(report))
    plot_ari(report, files["chart"])
    return files


# ------------------------------------------------------------------------------------ the docs


def default_docs_path() -> Path | None:
    """docs/benchmarks.md of the source checkout this module runs from (None when installed)."""
    repo = Path(__file__).resolve().parents[1]
    return repo / "docs" / "benchmarks.md" if (repo / "pyproject.toml").exists() else None


def is_default_run(config: BenchConfig) -> bool:
    """The full default set: the docs are regenerated without being asked."""
    names = [r.name for r in config.datasets]
    if config.gene_vectors != "real":
        return False
    if config.scale:
        return sorted(r.n_cells or 0 for r in config.datasets) == list(DEFAULT_SCALE) and sorted(
            config.methods
        ) == sorted(SCALE_METHODS)
    return sorted(names) == sorted(DEFAULT_DATASETS) and sorted(config.methods) == sorted(
        BUILTIN_METHODS
    )


def write_docs(report: dict[str, Any], path: Path) -> Path:
    """Regenerate `path`: the header and method list anew, and this run's section (bench or scale)
    replaced; the other section is kept as the last run of its kind left it."""
    section = "scale" if report.get("scale") else "bench"
    old = path.read_text() if path.exists() else ""
    sections = {name: _section(old, name) for name in DOCS_MARKERS}
    sections[section] = _docs_section(report, section)
    parts = [_docs_header(report)]
    for name in DOCS_MARKERS:
        body = sections[name] or f"No {DOCS_MARKERS[name]} run recorded yet.\n"
        parts.append(f"<!-- {name}:start -->\n{body.rstrip()}\n<!-- {name}:end -->\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_text(path, "\n".join(parts))
    return path


def _section(text: str, name: str) -> str | None:
    start, end = f"<!-- {name}:start -->\n", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        return None
    return text.split(start, 1)[1].split(end, 1)[0]


def _docs_header(report: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `cellmodel bench` (`cellmodel/bench.py`); do not edit by hand — rerun the",
        "command shown in each section to regenerate it. Each section records its own command,",
        "date and machine.",
        "",
        "## Protocol",
        "",
        *[f"- **{k}**: {v}." for k, v in report["protocol"].items()],
        "",
        "## Methods",
        "",
        "| method | what it is |",
        "| --- | --- |",
        *[
            f"| `{name}` | {METHODS[name].description} |"
            for name in BUILTIN_METHODS
            if name in METHODS
        ],
        "",
    ]
    return "\n".join(lines)


def _docs_section(report: dict[str, Any], section: str) -> str:
    m = report["machine"]
    title = "Scale" if section == "scale" else "Registry datasets"
    lines = [
        f"## {title}",
        "",
        f"- Command: `{report['command']}`",
        f"- Date: {report['created']}",
        f"- Machine: {m['cpu_model']}, {m['cpus']} CPU(s) usable, {m['ram_gib']:.1f} GiB RAM,"
        f" {m['platform']}; Python {m['python']}, torch {m['torch']}; device"
        f" {report['config'].get('device') or 'auto (cuda if present)'}; threads per worker:"
        f" {report['config'].get('threads') or 'library defaults'}; load average at start"
        f" {_load_text(m.get('load_average'))} (other work on the machine slows every method)",
        "",
        render_markdown(report),
    ]
    return "\n".join(lines)


def _proc_field(path: str, prefix: str) -> str | None:
    """The value after `prefix:` on the first matching line of a /proc file (None elsewhere)."""
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:
        return None
    found = next((line for line in lines if line.startswith(prefix)), None)
    return found.split(":", 1)[1].strip() if found else None


def _load_text(load: Sequence[float] | None) -> str:
    return "unknown" if not load else " / ".join(f"{x:.1f}" for x in load)


def machine_info() -> dict[str, Any]:
    """CPU model, usable cores and RAM from /proc (where there is one), and library versions."""
    from importlib.metadata import PackageNotFoundError, version

    cpu = _proc_field("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()
    mem_total = _proc_field("/proc/meminfo", "MemTotal")  # "24580000 kB"
    ram = int(mem_total.split()[0]) / 2**20 if mem_total else math.nan
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 0
    versions = {}
    for package in ("torch", "scanpy", "scikit-learn"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return {
        "cpu_model": cpu,
        "cpus": cpus,
        "cpu_count": os.cpu_count(),
        "ram_gib": round(ram, 2),
        "platform": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": versions["torch"],
        "versions": versions,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "thread_variables": {k: os.environ[k] for k in THREAD_VARIABLES if k in os.environ},
    }


# ------------------------------------------------------------------------------------- helpers


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _write_text(path: Path, text: str) -> None:
    """Through a temporary file and a rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _write_json(path: Path, document: Any) -> None:
    _write_text(path, json.dumps(_jsonable(document), indent=2, default=str) + "\n")
