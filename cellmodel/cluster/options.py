"""The clustering fit's options (every tunable with its default) and its result; the options of a
whole `cellmodel.cluster.job.cluster` run (`ClusterRun`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from cellmodel._settings import CLUSTER_KEY, DEFAULT_N_HVG
from cellmodel.pp.graph import FIT_N_NEIGHBORS
from genekb.device import resolve_device
from genekb.errors import GenekbError, UsageError


@dataclass
class ClusterOptions:
    """Every tunable of the procedure; the defaults are the same for every dataset."""

    conv: str = "gcn"  # graph encoder: gcn | gat | sage
    hidden_dim: int = 256
    latent_dim: int = 32
    projection_dim: int = 32
    dropout: float = 0.0
    layer_norm: bool = False  # LayerNorm on the hidden layer (measured worse; see the docs)
    n_neighbors: int = FIT_N_NEIGHBORS  # only when the graph is built here
    # Share of a cell's own features in each GCN aggregation (the rest split among its
    # neighbours; 0.5 is the lazy random walk). None: GCN's self loop, 1/(degree + 1), which
    # lets a rare type's few cells dissolve into their neighbours' type.
    self_share: float | None = 0.5
    batch_size: int = 1024  # seed cells per step (all cells when fewer)
    fanouts: tuple[int, int] = (10, 10)  # neighbours sampled per cell for layer 2 and layer 1
    edge_drop: float = 0.2
    feature_mask: float = 0.2
    feature_noise: float = 0.1
    temperature: float = 0.5
    positives: str = "self"  # view InfoNCE positive: the cell itself or a random graph neighbour
    lr: float = 1e-3
    weight_decay: float = 0.0
    reconstruction_weight: float = 1.0
    # Negative-binomial reconstruction of the raw counts of the HVGs (`losses.nb_nll`), beside the
    # PCA reconstruction; used only where the input holds counts and they are passed to the fit.
    count_weight: float = 0.0
    # InfoNCE between the two augmented structure views. Off by default: measured, it spreads the
    # large cell types over the sphere and k-means then splits them (docs/cluster_experiments.md).
    view_weight: float = 0.0
    alignment_weight: float = 1.0  # InfoNCE structure ↔ semantic (0 = no alignment)
    # Link reconstruction in pretraining (`losses.link_loss`): each cell near a sampled graph
    # neighbour, away from random cells, so the latent keeps the graph's communities. Off by
    # default; the pipeline fits it as the second candidate on batched data (`batch_choice`).
    link_weight: float = 0.0
    link_negatives: int = 5  # random cells per cell that the link loss pushes away
    cluster_weight: float = 1.0  # KL(P ‖ Q) in refinement
    semantic_weight: float = 1.0  # share of the semantic latent in the fused latent
    pretrain_steps: int = 400  # upper bound; the plateau rule usually stops earlier
    min_pretrain_steps: int = 100
    plateau_patience: int = 50  # steps without a `plateau_tol` relative improvement
    plateau_tol: float = 0.01
    cluster_steps: int = 200  # upper bound of refinement steps
    target_every: int = 10  # steps between target refreshes (also the stopping check)
    tol: float = 0.001  # stop when fewer than this fraction of cells changed cluster
    use_ot: bool = True  # False: refinement skipped (k-means labels on the pretrained latent)
    sharpen: float = 2.0
    balance: float = 0.0  # cluster masses: (1 − balance) × current masses + balance × uniform
    sinkhorn_iters: int = 50
    student_alpha: float = 1.0
    # Restarts are cheap in the latent; 10 measurably missed the lowest-inertia optimum.
    kmeans_restarts: int = 50
    k_resolution: float = 1.0  # Leiden resolution for estimating k
    k_min_size: int = 3  # Leiden communities smaller than this do not count toward k

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["fanouts"] = list(self.fanouts)
        return out


@dataclass
class ClusterResult:
    labels: np.ndarray  # (cells,) int64 cluster ids 0..k-1
    latent: np.ndarray  # fused latent (cells × d), what the clusters were fitted in
    structure: np.ndarray  # structure-view latent (cells × latent_dim)
    n_clusters: int
    k_estimated: bool
    timings: dict[str, float]  # seconds per phase
    history: list[dict[str, float]]  # losses per step, phase-tagged
    params: dict[str, Any]
    soft: np.ndarray | None = None  # final Student-t assignments (cells × k)
    notes: list[str] = field(default_factory=list)
    net: Any = None  # the fitted `ClusterNet` (the chunked path applies it to every cell)


def check_inputs(
    X_pca: np.ndarray, semantic: np.ndarray | None, n_clusters: int | None, device: str
) -> None:
    if X_pca.ndim != 2:
        raise UsageError(f"X_pca must be a cells × components matrix (got shape {X_pca.shape})")
    n = X_pca.shape[0]
    if n < 3:
        raise GenekbError(f"only {n} cell(s); clustering needs at least 3 cells")
    if not np.isfinite(X_pca).all():
        raise GenekbError("X_pca contains NaN or infinite values; check the expression input")
    if semantic is not None:
        if semantic.ndim != 2 or semantic.shape[0] != n:
            raise UsageError(
                f"the semantic matrix has shape {semantic.shape}; it needs one row per cell ({n})"
            )
        if not np.isfinite(semantic).all():
            raise GenekbError("the semantic matrix contains NaN or infinite values")
    if n_clusters is not None and not 1 <= n_clusters <= n:
        raise UsageError(f"n_clusters={n_clusters} must be between 1 and the number of cells ({n})")
    resolve_device(device)


# What to do instead, for the words a scanpy user brings from sc.tl.leiden: the long list of
# the fit's tunables named none of it.
SCANPY_WORDS = {
    "resolution": "cellmodel takes a number of clusters: pass n_clusters= (None estimates it)",
}


def parse_options(opts: dict[str, Any]) -> ClusterOptions:
    names = {f.name for f in dataclasses.fields(ClusterOptions)}
    unknown = sorted(set(opts) - names)
    for name in unknown:  # scanpy's leiden/louvain words: no misspelling, and no such setting here
        if name in SCANPY_WORDS:
            raise UsageError(f"{name}= is scanpy's (leiden, louvain); {SCANPY_WORDS[name]}")
    if unknown:
        raise UsageError(
            f"unknown clustering option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}"
        )
    # numpy's numbers (from an array, a grid of settings) as Python's: np.int64(64) was refused
    # as no whole number, np.float32(0.1) as no finite one.
    options = ClusterOptions(
        **{k: v.item() if isinstance(v, np.generic) else v for k, v in opts.items()}
    )
    options.fanouts = tuple(int(f) for f in options.fanouts)  # type: ignore[assignment]
    if len(options.fanouts) != 2 or min(options.fanouts) < 1:
        raise UsageError(f"fanouts must be two positive numbers, one per layer ({options.fanouts})")
    if options.self_share is not None and not 0.0 <= options.self_share < 1.0:
        raise UsageError(f"self_share must lie in [0, 1), or be None (got {options.self_share})")
    _check_ranges(options)
    return options


# The ranges of the other options: counts of at least one, shares, weights and scales.
_AT_LEAST_ONE = (
    "hidden_dim", "latent_dim", "projection_dim", "batch_size", "n_neighbors", "pretrain_steps",
    "plateau_patience", "cluster_steps", "target_every", "sinkhorn_iters", "kmeans_restarts",
    "k_min_size", "link_negatives",
)  # fmt: skip
_SHARES = ("dropout", "tol", "edge_drop", "feature_mask")  # in [0, 1)
_NON_NEGATIVE = (
    "min_pretrain_steps", "weight_decay", "reconstruction_weight", "count_weight", "view_weight",
    "alignment_weight", "cluster_weight", "semantic_weight", "plateau_tol", "link_weight",
)  # fmt: skip
_POSITIVE = ("lr", "temperature", "sharpen", "student_alpha", "k_resolution")
FEATURE_NOISE_MAX = 10.0  # noise in units of each column's spread; far beyond, float32 overflows


def _check_ranges(options: ClusterOptions) -> None:
    def value(name: str) -> Any:
        return getattr(options, name)

    def refuse(name: str, bound: str) -> UsageError:
        return UsageError(f"{name} must be {bound} (got {value(name)!r})")

    for name in _AT_LEAST_ONE:
        if isinstance(value(name), bool) or not isinstance(value(name), int) or value(name) < 1:
            raise refuse(name, "a whole number of at least 1")
    for name in _SHARES + _NON_NEGATIVE + _POSITIVE + ("feature_noise", "balance"):
        if not isinstance(value(name), int | float) or not np.isfinite(value(name)):
            raise refuse(name, "a finite number")
    for name in _SHARES:
        if not 0.0 <= value(name) < 1.0:
            raise refuse(name, "in [0, 1)")
    for name in _NON_NEGATIVE:
        if value(name) < 0:
            raise refuse(name, "at least 0")
    for name in _POSITIVE:
        if value(name) <= 0:
            raise refuse(name, "above 0")
    if not 0.0 <= options.balance <= 1.0:
        raise refuse("balance", "in [0, 1]")
    if not 0.0 <= options.feature_noise <= FEATURE_NOISE_MAX:
        raise refuse("feature_noise", f"in [0, {FEATURE_NOISE_MAX:g}]")
    if options.positives not in ("self", "neighbour"):
        raise refuse("positives", "self or neighbour")
    if not isinstance(options.layer_norm, bool) or not isinstance(options.use_ot, bool):
        raise UsageError("layer_norm and use_ot must be True or False")


@dataclass(frozen=True)
class ClusterRun:
    """Every choice of a `cellmodel.cluster.job.cluster` run besides the data and the store.

    `use_semantic` computes the semantic view (obsm, and what `cellmodel explain` decomposes);
    `align_semantic` also feeds it to the fit (contrastive alignment + fused latent). Measured on
    pbmc68k-reduced and Baron, the aligned fit scores with shuffled or random gene vectors
    within the seed spread of the real ones, and lower than the structure fit on Baron
    (docs/cluster_experiments.md), so it is off by default and the semantic view then skips the
    sentence path (explanations use the weighted path).
    `control_seed`: the seed of the shuffled/random gene-vector controls (default: `seed`).
    `n_clusters=None` estimates k label-free (Leiden's community count, then the check's
    merges). `batch_key`: an obs column of a technical covariate
    (donor, run; never the labels) removed by ComBat before the PCA and by per-batch centring of
    the semantic view; "auto": the column the dataset registry names for these data
    (`uns["dataset"]["batch_key"]`), if any.
    `label_key`: an obs column of reference labels, read only after the run has ended to score
    it (`score`; recorded in `uns["cellmodel"]["metrics"]`).
    `ensemble`: keep, of the graph encoder's partition, a k-means consensus on the PCA and
    Leiden at k, the one that agrees best with the ensemble (`cellmodel.cluster.consensus`); off by
    default, as it measured below the graph encoder alone on the registry datasets
    (docs/cluster_experiments.md, "Robustness").
    `batch_choice` (with a batch column, unless `link_weight` is given): also fit the
    link-reconstruction candidate, find Leiden's communities at the same k, and keep the
    partition least explained by the batch (`cellmodel.cluster.batch_choice`); on batched data
    that is a second fit plus the Leiden runs, more than twice the fit time.
    `merge_split`: check the finished partition in the PCA and keep the merge-split moves that
    raise the silhouette and, with a batch column, do not raise the clusters' information about
    the batch (`cellmodel.cluster.merge_split`; k is kept); with k estimated, then also merge
    neighbouring clusters with no density dip between them while the silhouette rises (so the
    k returned can be below Leiden's count).
    `consensus`: at the end, merge the partition with a consensus of k-means runs on the PCA
    into one (`cellmodel.cluster.consensus.encoder_kmeans_consensus`; k is kept).
    `refine="cell-gene"`: in place of the graph encoder, k-means on the cells refined through
    cell–gene associations over the `gene_graph` ("data", "knowledge", "both", or a control such
    as "knowledge:shuffled"; `cellmodel.cluster.refine_fit`); the batch choice is skipped.
    `n_pcs`: principal components of the structure input; "auto" keeps those above noise by
    parallel analysis (`graph.parallel_analysis`, at most `DEFAULT_N_PCS` and one per ten cells:
    `graph.auto_n_pcs`).
    `cluster_options` override `ClusterOptions` fields.
    Gene names are optional: when they name no species
    (`cellmodel.knowledge.genes.read_gene_names`: feature ids, numbers, another species' genes)
    and no `taxon` is given, the semantic view is skipped with one `NoGeneNamesWarning` and the
    default fit, which reads the expression alone, runs.
    """

    n_clusters: int | None = None
    use_semantic: bool = True
    align_semantic: bool = False
    model: str = "minilm"
    gene_vectors: str = "real"
    control_seed: int | None = None
    taxon: str | None = None
    gene_key: str | None = None
    layer: str | None = None
    batch_key: str | None = None
    n_hvg: int = DEFAULT_N_HVG
    n_pcs: int | str = "auto"
    n_neighbors: int = FIT_N_NEIGHBORS
    seed: int = 0
    device: str | None = None
    embed_options: dict[str, Any] | None = None
    progress: Any = None
    label_key: str | None = None
    ensemble: bool = False
    batch_choice: bool = True
    merge_split: bool = True
    consensus: bool = False
    refine: str | None = None
    gene_graph: str = "data"
    # obs column of the clusters; another than the default keeps its record and latents apart
    # (`outputs.result_keys`), so a second clustering leaves the first's in place
    key_added: str = CLUSTER_KEY
    cluster_options: dict[str, Any] = field(default_factory=dict)
