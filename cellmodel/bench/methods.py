"""The built-in methods: the baselines a reviewer asks for and cellmodel's own variants, each a
thin adapter over the library."""

from __future__ import annotations

from typing import Any

import numpy as np

from cellmodel import io
from cellmodel._settings import CLUSTER_KEY
from cellmodel.bench.registry import MethodInput, MethodOutput, register_method
from cellmodel.bench.settings import CONTROL_SEED
from cellmodel.cluster.batch_column import batch_values, centre_per_batch
from cellmodel.cluster.consensus import leiden_labels, leiden_to_k
from cellmodel.cluster.job import cluster
from cellmodel.embed import embed
from cellmodel.pp import graph
from genekb.errors import GenekbError


def _expression_pca(inp: MethodInput) -> np.ndarray:
    """The pipeline's own structure input: log-normalize, 2,000 HVG, scale, PCA 50."""
    expr = io.expression(inp.adata, layer=inp.layer, gene_key=inp.gene_key)
    batch = batch_values(inp.adata, inp.batch_key)
    return graph.structure_features(
        expr.X, kind="log", batch=batch, seed=inp.seed, genes=expr.genes
    )


def _knn(inp: MethodInput) -> Any:
    return graph.knn_graph(_expression_pca(inp), graph.DEFAULT_N_NEIGHBORS, seed=inp.seed)


def _kmeans(X: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=k, n_init=10, random_state=seed)
    return np.asarray(model.fit_predict(np.asarray(X, dtype=np.float32)), dtype=np.int64)


def _semantic_kmeans(inp: MethodInput, key: str, gene_vectors: str) -> MethodOutput:
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
    ensemble: bool = False,
    **options: Any,
) -> MethodOutput:
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
        ensemble=ensemble,
        **options,
    )
    record = inp.adata.uns["cellmodel"]
    extras = {
        "k_used": int(record["n_clusters"]),
        "chosen": (record.get("ensemble") or {}).get("chosen"),
        "batch_choice": (record.get("batch_choice") or {}).get("chosen"),
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
    "scanpy Leiden (leidenalg, its defaults) at resolution 1 on a kNN graph of 15 neighbours"
    " (scanpy's default) over the pipeline's PCA 50; k is not given, it finds its own",
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


# The semantic views, each clustered alone by k-means: (name, description, obsm key, vectors).
_SEMANTIC_METHODS = (
    ("semantic-w", "k-means on the weighted semantic path alone (expression-weighted gene-text"
     " vectors)", "X_semantic_w", "real"),
    ("semantic-s", "k-means on the sentence semantic path alone (each cell's top genes as a"
     " sentence, embedded)", "X_semantic_s", "real"),
    ("semantic", "k-means on the fused semantic view (weighted + sentence), no expression"
     " structure", "X_semantic", "real"),
    ("semantic-shuffled", "control: 'semantic' with the gene vectors (and sentence gene names)"
     " shuffled across genes", "X_semantic", "shuffled"),
    ("semantic-random", "control: 'semantic' with random Gaussian gene vectors (and random tokens"
     " as gene names)", "X_semantic", "random"),
)  # fmt: skip


def _register_semantic(name: str, description: str, key: str, vectors: str) -> None:
    register_method(name, description, needs_store=True, gene_vectors=vectors, builtin=True)(
        lambda inp: _semantic_kmeans(inp, key, vectors)
    )


# The pipeline's variants: (name, description, registry flags, `cluster` options). Registry flags
# beyond the default (no store, k given, built-in): "store" (real vectors, sentences embedded),
# "store-fit" (real vectors, the weighted path only), "shuffled"/"random" (store, those vectors),
# "auto" (store-fit, k estimated), "by-name" (not in `--methods all`).
_PIPELINE_METHODS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("structure", "the graph encoder alone (+ OT refinement; with a batch column, the batch choice"
     " among it, the link-reconstruction fit and Leiden at k; then the merge-split check in the"
     " PCA), no ensemble choice and no semantic view, k given", "", {"use_semantic": False}),
    ("cellmodel", "the default pipeline, k given: ComBat on the batch column where there is one,"
     " graph encoder + OT refinement (with a batch column, the batch choice), the merge-split"
     " check in the PCA; the weighted semantic view is computed for `cellmodel explain` and does"
     " not enter the fit (so its labels equal `structure`'s; the time includes the semantic"
     " view)", "store-fit", {}),
    ("cellmodel-ensemble", "the default pipeline with --ensemble: of the graph encoder's"
     " partition, a consensus of 20 k-means runs on the PCA and Leiden at k, the one with the"
     " highest mean ARI with the ensemble (label-free)", "store-fit", {"ensemble": True}),
    ("structure-consensus", "the graph encoder alone (as `structure`), its partition then merged"
     " with a consensus of 20 k-means runs on the PCA (`consensus=True`; label-free); by name"
     " only, not in `all`", "by-name", {"use_semantic": False, "consensus": True}),
    ("cellmodel-auto", "the default pipeline with k estimated from the data (Leiden on the kNN"
     " graph), not given", "auto", {"given_k": False}),
    ("cellmodel-no-ot", "ablation: the default pipeline without the OT-guided refinement (k-means"
     " labels on the pretrained latent)", "", {"use_semantic": False, "use_ot": False}),
    ("cellmodel-aligned", "the two-view design: the fused semantic view (weighted + sentences)"
     " aligned to the structure view by symmetric InfoNCE and concatenated into the clustered"
     " latent (--align-semantic)", "store", {"align_semantic": True}),
    ("cellmodel-concat", "ablation of the two-view design without alignment: the semantic latent"
     " concatenated, no InfoNCE (alignment_weight=0)", "store",
     {"align_semantic": True, "alignment_weight": 0.0}),
    ("cellmodel-aligned-shuffled", "control: the two-view design on gene vectors shuffled across"
     " genes", "shuffled", {"align_semantic": True, "gene_vectors": "shuffled"}),
    ("cellmodel-aligned-random", "control: the two-view design on random Gaussian gene vectors",
     "random", {"align_semantic": True, "gene_vectors": "random"}),
)  # fmt: skip

_FLAGS: dict[str, dict[str, Any]] = {
    "": {},
    "by-name": {"builtin": False},
    "store": {"needs_store": True, "gene_vectors": "real"},
    "store-fit": {"needs_store": True, "gene_vectors": "real", "sentences": False},
    "auto": {"needs_store": True, "gene_vectors": "real", "sentences": False, "uses_k": False},
    "shuffled": {"needs_store": True, "gene_vectors": "shuffled"},
    "random": {"needs_store": True, "gene_vectors": "random"},
}


def _register_pipeline(name: str, description: str, flags: str, options: dict[str, Any]) -> None:
    register_method(name, description, **{"builtin": True, **_FLAGS[flags]})(
        lambda inp: _pipeline(inp, **options)
    )


for _method in _SEMANTIC_METHODS:
    _register_semantic(*_method)
for _method in _PIPELINE_METHODS:
    _register_pipeline(*_method)
