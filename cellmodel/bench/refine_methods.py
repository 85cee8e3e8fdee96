"""Bench methods of the cell–gene refinement (`cluster(..., refine="cell-gene")`: k-means at k
on X_refined, then the pipeline's checks), one per gene-graph source and control, on the
expression alone (no semantic view). Not in `--methods all`; name them."""

from __future__ import annotations

from cellmodel._settings import CLUSTER_KEY
from cellmodel.bench.registry import MethodInput, MethodOutput, register_method
from cellmodel.cluster.job import cluster

# method name suffix -> the `gene_graph` spec (source, or source:control)
VARIANTS = {
    "": "data",
    "-data-rewired": "data:rewired",
    "-knowledge": "knowledge",
    "-knowledge-shuffled": "knowledge:shuffled",
    "-knowledge-random": "knowledge:random",
    "-both": "both",
}


def run_refined(inp: MethodInput, spec: str) -> MethodOutput:
    """The pipeline with `refine="cell-gene"` over the `spec` gene graph, at the true k."""
    store = inp.store() if not spec.startswith("data") else None
    cluster(
        inp.adata, store, n_clusters=inp.n_classes, use_semantic=False, refine="cell-gene",
        gene_graph=spec, model=inp.model, gene_key=inp.gene_key, layer=inp.layer,
        batch_key=inp.batch_key, seed=inp.seed, device=inp.device,
    )  # fmt: skip
    record = inp.adata.uns["refine"]
    extras = {"steps": int(record["steps"]), "fit_s": record["timings_s"].get("fit")}
    return MethodOutput(inp.adata.obs[CLUSTER_KEY].astype(int).to_numpy(), extras)


def _register(suffix: str, spec: str) -> None:
    register_method(
        f"cellmodel-refine{suffix}",
        f"cell–gene refinement (scRCL-style, mini-batched) over the {spec} gene graph; k-means"
        " at k on X_refined, then the pipeline's merge-split check",
        needs_store=not spec.startswith("data"),
        sentences=False,
    )(lambda inp: run_refined(inp, spec))


for _suffix, _spec in VARIANTS.items():
    _register(_suffix, _spec)
