"""Pure-torch building blocks of the clustering model (no data handling, no fitting loop).

- `GraphEncoder`: a two-layer graph encoder over cells (our mean GCN by default; torch_geometric's
  GAT or SAGE);
- `Projection`: the MLP heads that map each view into the space where views are contrasted;
- `ClusterNet`: structure encoder + reconstruction decoder + heads, an optional semantic encoder,
  the fused latent and the cluster centres;
- losses: symmetric InfoNCE, Student-t link reconstruction, the negative-binomial likelihood of
  raw counts (an option of the fit), Student-t soft assignment, a Sinkhorn-balanced target, KL
  to it;
- augmentations: feature masking and noise (edge dropping lives in `cellmodel.cluster`'s sampler,
  where edges are drawn).

The fitting procedure is `cellmodel.cluster.fit.fit_clusters`.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genekb.errors import UsageError

CONVS: tuple[str, ...] = ("gcn", "gat", "sage")
GAT_HEADS = 4


def mean_adjacency(
    edge_index: torch.Tensor, n_dst: int, n_src: int, self_share: float | None = None
) -> torch.Tensor:
    """Sparse (n_dst × n_src) mean-aggregation matrix over `edge_index` (row 0 = source) + self.

    `self_share` None: each destination averages itself and its sources alike (GCN's self loop,
    so a cell keeps 1/(degree + 1) of itself). A number s: the cell keeps s and its sources share
    1 − s (s = 0.5 is the lazy random walk); a cell without sources keeps all of itself. Row
    normalization (rather than GCN's symmetric one) keeps a sampled neighbourhood an unbiased
    estimate of the full one.
    """
    device = edge_index.device
    n_self = min(n_dst, n_src)
    loops = torch.arange(n_self, device=device)
    n_in = torch.zeros(n_dst, device=device).index_add_(
        0, edge_index[1], torch.ones(edge_index.shape[1], device=device)
    )
    if self_share is None:
        from_source = own = 1.0 / (n_in + 1.0)
    else:
        from_source = (1.0 - self_share) / n_in.clamp(min=1.0)
        own = torch.where(n_in > 0, self_share, 1.0)
    dst = torch.cat([edge_index[1], loops])
    src = torch.cat([edge_index[0], loops])
    weight = torch.cat([from_source[edge_index[1]], own[:n_self]])
    if device.type == "cpu":
        csr = csr_by_sort(dst, src, weight, n_dst, n_src)
        if csr is not None:
            return csr
    adj = torch.sparse_coo_tensor(
        torch.stack([dst, src]), weight, (n_dst, n_src), check_invariants=False
    ).coalesce()
    if device.type != "cpu":
        return adj
    with warnings.catch_warnings():  # "CSR support is in beta": CSR is the fast CPU spmm path
        warnings.simplefilter("ignore", UserWarning)
        return adj.to_sparse_csr()


def csr_by_sort(
    dst: torch.Tensor, src: torch.Tensor, weight: torch.Tensor, n_dst: int, n_src: int
) -> torch.Tensor | None:
    """The CSR matrix of (dst, src) → weight built by one sort: the same as COO's coalesce then
    conversion, with less work; None when a pair repeats (coalesce sums them)."""
    key, order = torch.sort(dst * n_src + src)
    if bool((key[1:] == key[:-1]).any()):
        return None
    crow = torch.zeros(n_dst + 1, dtype=torch.int64)
    crow[1:] = torch.cumsum(torch.bincount(dst, minlength=n_dst), 0)
    with warnings.catch_warnings():  # "CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, src[order], weight[order], (n_dst, n_src))


class MeanGCNConv(nn.Module):
    """GCN layer with random-walk normalization: W · mean(x_self, x_neighbours) + b.

    Takes the sparse mean-aggregation matrix (`mean_adjacency`), which may be rectangular
    (destinations are a prefix of sources). It aggregates before the linear map when that is the
    narrower side, so a sampled two-hop neighbourhood costs one spmm over the input features and
    a linear map over the cells whose output is needed, never over the whole neighbourhood.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.lin = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        if self.lin.in_features <= self.lin.out_features:
            return self.lin(torch.sparse.mm(adjacency, x))
        # Rows of the mean matrix sum to 1, so the bias passes through the aggregation.
        return torch.sparse.mm(adjacency, F.linear(x, self.lin.weight)) + self.lin.bias


class GraphEncoder(nn.Module):
    """Two message-passing layers: features (cells × in_dim) → latent (cells × latent_dim).

    `forward(x, edge_index, sizes)`: `edge_index` has row 0 the source and row 1 the destination
    cell, without self loops. `sizes=(n_out, n_hidden)` says that only the first `n_hidden` rows
    need a hidden state and only the first `n_out` an output (a sampled neighbourhood lists the
    batch first, then its neighbours, then theirs); None means every row (the full graph).
    GCN (default) is `MeanGCNConv`; SAGE and GAT are torch_geometric's, used bipartitely.
    """

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        latent_dim: int,
        conv: str = "gcn",
        dropout: float = 0.0,
        layer_norm: bool = False,
        self_share: float | None = None,
    ) -> None:
        super().__init__()
        if conv not in CONVS:
            raise UsageError(f"unknown graph encoder {conv!r}; choose one of {', '.join(CONVS)}")
        self.conv_type = conv
        self.dropout = dropout
        self.self_share = self_share  # GCN only (`mean_adjacency`)
        # Off by default: normalizing each cell's hidden vector discards its magnitude and, as
        # with cosine k-means, splits the large cell types (docs/cluster_experiments.md).
        self.norm: nn.Module = nn.LayerNorm(hidden_dim) if layer_norm else nn.Identity()
        self.layers: nn.ModuleList
        if conv == "gcn":
            self.layers = nn.ModuleList(
                [MeanGCNConv(in_dim, hidden_dim), MeanGCNConv(hidden_dim, latent_dim)]
            )
        elif conv == "sage":
            from torch_geometric.nn import SAGEConv  # imported only here: its import is slow

            self.layers = nn.ModuleList(
                [SAGEConv(in_dim, hidden_dim, aggr="mean"), SAGEConv(hidden_dim, latent_dim)]
            )
        else:
            from torch_geometric.nn import GATConv

            if hidden_dim % GAT_HEADS:
                raise UsageError(f"the GAT hidden size must be a multiple of {GAT_HEADS}")
            self.layers = nn.ModuleList(
                [
                    GATConv(in_dim, hidden_dim // GAT_HEADS, heads=GAT_HEADS),
                    GATConv(hidden_dim, latent_dim, heads=1),
                ]
            )

    def _layer(
        self, index: int, x: torch.Tensor, edge_index: torch.Tensor, n_dst: int
    ) -> torch.Tensor:
        n_src = x.shape[0]
        edges = edge_index[:, edge_index[1] < n_dst] if n_dst < n_src else edge_index
        layer = self.layers[index]
        if self.conv_type == "gcn":
            return layer(x, mean_adjacency(edges, n_dst, n_src, self.self_share))
        return layer((x, x[:n_dst]), edges, size=(n_src, n_dst))

    def forward(
        self, x: torch.Tensor, edge_index: torch.Tensor, sizes: tuple[int, int] | None = None
    ) -> torch.Tensor:
        n_out, n_hidden = sizes if sizes is not None else (x.shape[0], x.shape[0])
        h = F.elu(self.norm(self._layer(0, x, edge_index, n_hidden)))
        h = F.dropout(h, self.dropout, self.training)
        return self._layer(1, h, edge_index, n_out)


class Projection(nn.Module):
    """Two-layer MLP head (Linear–ELU–Linear), as in SimCLR/GRACE."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.ELU(), nn.Linear(hidden_dim, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ClusterNet(nn.Module):
    """Structure view (graph encoder, decoder, projection), optional semantic view, fusion, centres.

    The fused latent is the structure latent, concatenated (when a semantic view is given) with
    `semantic_weight` × the semantic latent.
    """

    def __init__(
        self,
        in_dim: int,
        semantic_dim: int | None,
        *,
        hidden_dim: int = 256,
        latent_dim: int = 32,
        projection_dim: int = 32,
        conv: str = "gcn",
        dropout: float = 0.0,
        layer_norm: bool = False,
        semantic_weight: float = 1.0,
        self_share: float | None = None,
        count_genes: int | None = None,
        count_batches: int = 0,
    ) -> None:
        super().__init__()
        self.structure = GraphEncoder(
            in_dim, hidden_dim, latent_dim, conv, dropout, layer_norm, self_share
        )
        self.decoder = Projection(latent_dim, hidden_dim, in_dim)
        self.structure_head = Projection(latent_dim, hidden_dim, projection_dim)
        self.semantic_weight = semantic_weight
        self.semantic: Projection | None = None
        self.semantic_head: Projection | None = None
        if semantic_dim is not None:
            self.semantic = Projection(semantic_dim, hidden_dim, latent_dim)
            self.semantic_head = Projection(latent_dim, hidden_dim, projection_dim)
        self.centres: nn.Parameter | None = None
        # Count decoder (made last, so the other layers start as without it): gene shares of
        # each cell's counts and one log inverse-dispersion per gene, for `nb_nll`. It also reads
        # the cell's batch (one-hot, `count_batches` columns), so that the latent need not carry
        # what differs between batches' counts (as scVI's decoder does).
        self.count_decoder: Projection | None = None
        self.log_theta: nn.Parameter | None = None
        if count_genes is not None:
            self.count_decoder = Projection(latent_dim + count_batches, hidden_dim, count_genes)
            self.log_theta = nn.Parameter(torch.zeros(count_genes))

    @property
    def has_semantic(self) -> bool:
        return self.semantic is not None

    def fuse(self, h: torch.Tensor, e: torch.Tensor | None) -> torch.Tensor:
        # Euclidean, not L2-normalized: on the sphere k-means splits the large cell types (see
        # docs/cluster_experiments.md), while in the encoder's own space they stay compact.
        if e is None:
            return h
        return torch.cat([h, self.semantic_weight * e], dim=1)

    def set_centres(self, centres: torch.Tensor) -> None:
        self.centres = nn.Parameter(centres.clone())


# ------------------------------------------------------------------------------------------ losses


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric InfoNCE: rows i of `a` and `b` are a positive pair, all other rows negatives."""
    logits = F.normalize(a, dim=1) @ F.normalize(b, dim=1).T / temperature
    targets = torch.arange(a.shape[0], device=a.device)
    return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))


def nb_nll(
    counts: torch.Tensor, latent: torch.Tensor, decoder: nn.Module, log_theta: torch.Tensor
) -> torch.Tensor:
    """Negative-binomial negative log-likelihood of raw counts given the latent, per entry.

    `counts`: a sparse COO tensor (cells × genes). Mean μ = library × softmax(decoder(latent))
    (library: the cell's observed total over these genes, as scVI does), inverse dispersion
    θ = exp(log_theta) per gene. A zero count contributes only θ·log(θ / (θ + μ)), so the
    log-gamma terms are evaluated on the non-zero entries alone.
    """
    counts = counts.coalesce()
    rows, cols = counts.indices()
    values = counts.values()
    n_cells, n_genes = counts.shape
    library = torch.zeros(n_cells, device=latent.device).index_add_(0, rows, values)
    log_mu = torch.log(library.clamp_min(1.0))[:, None] + torch.log_softmax(decoder(latent), dim=1)
    log_theta_mu = torch.logaddexp(log_theta[None, :], log_mu)  # log(θ + μ)
    theta = log_theta.exp()
    every_entry = (theta[None, :] * (log_theta[None, :] - log_theta_mu)).sum()
    theta_nz = theta[cols]
    non_zero = (
        torch.lgamma(values + theta_nz)
        - torch.lgamma(theta_nz)
        - torch.lgamma(values + 1.0)
        + values * (log_mu[rows, cols] - log_theta_mu[rows, cols])
    ).sum()
    return -(every_entry + non_zero) / (n_cells * n_genes)


def link_loss(h: torch.Tensor, partner: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
    """Graph link reconstruction with a Student-t kernel q(d) = 1 / (1 + d²), as UMAP's embedding
    loss with a = b = 1: −log q for each cell and its graph neighbour (rows of `h` and `partner`),
    −log(1 − q) for each cell and the rows of `partner` indexed by `negatives` (cells × m).
    """
    d_pos = (h - partner).pow(2).sum(1)
    d_neg = (h[:, None, :] - partner[negatives]).pow(2).sum(2)
    # The 1e-4 keeps a negative that lands on its cell finite (1 − q = 0 there).
    return torch.log1p(d_pos).mean() - torch.log(d_neg / (1.0 + d_neg) + 1e-4).mean()


def student_t(z: torch.Tensor, centres: torch.Tensor, alpha: float = 1.0) -> torch.Tensor:
    """DEC's soft assignment: q_ij ∝ (1 + |z_i − μ_j|² / α)^(−(α + 1) / 2), rows sum to 1."""
    sq_dist = torch.cdist(z, centres).pow(2)
    logits = -(alpha + 1.0) / 2.0 * torch.log1p(sq_dist / alpha)
    return torch.softmax(logits, dim=1)


@torch.no_grad()
def sinkhorn_target(
    q: torch.Tensor,
    cluster_mass: torch.Tensor,
    *,
    sharpen: float = 2.0,
    n_iter: int = 50,
) -> torch.Tensor:
    """Target assignment P: q^sharpen rescaled so each row sums to 1 and column j to N·mass_j.

    This is the entropic optimal-transport plan between cells (uniform) and clusters
    (`cluster_mass`, summing to 1) with cost −log q; sharpen = 2 with one column-then-row pass is
    exactly DEC's target. Iterated to convergence, no cluster can grow or shrink away from its
    mass, which is what keeps a cluster from swallowing its neighbours.
    """
    log_p = sharpen * torch.log(q.clamp_min(1e-12))
    log_mass = torch.log(cluster_mass.clamp_min(1e-12)) + torch.log(
        torch.tensor(float(q.shape[0]), device=q.device)
    )
    for _ in range(n_iter):
        log_p = log_p - torch.logsumexp(log_p, dim=0, keepdim=True) + log_mass  # columns
        log_p = log_p - torch.logsumexp(log_p, dim=1, keepdim=True)  # rows
    return log_p.exp()


@torch.no_grad()
def split_for_empty(
    z: torch.Tensor, centres: torch.Tensor, labels: torch.Tensor, lloyd_iters: int = 10
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Give every empty cluster a centre again: bisect the cluster with the most cells (split
    along its first principal axis, then `lloyd_iters` 2-means steps) and move the empty
    cluster's centre onto its smaller half (bisecting k-means with the
    largest-cluster strategy, as scikit-learn's BisectingKMeans; the split is Boley 1998's PDDP).

    Deterministic and label-free. Returns the new centres, the new hard labels (the split cluster's
    cells go to the nearer of its two halves) and how many clusters were re-seeded.
    """
    k = centres.shape[0]
    centres, labels = centres.clone(), labels.clone()
    reseeded = 0
    for empty in torch.nonzero(torch.bincount(labels, minlength=k) == 0).flatten().tolist():
        counts = torch.bincount(labels, minlength=k)
        source = int(counts.argmax())
        if counts[source] < 2:
            break  # nothing left to split: every cluster holds one cell
        rows = torch.nonzero(labels == source).flatten()
        members = z[rows]
        centred = members - members.mean(0, keepdim=True)
        axis = torch.linalg.svd(centred, full_matrices=False).Vh[0]
        side = centred @ axis > 0
        if side.all() or not side.any():
            side = torch.arange(rows.numel(), device=z.device) < rows.numel() // 2
        for _ in range(lloyd_iters):
            pair = torch.stack([members[~side].mean(0), members[side].mean(0)])
            new_side = torch.cdist(members, pair).argmin(1) == 1
            if new_side.all() or not new_side.any() or bool((new_side == side).all()):
                break
            side = new_side
        if int(side.sum()) * 2 > rows.numel():
            side = ~side  # the smaller half moves (the axis' sign is arbitrary)
        centres[source] = members[~side].mean(0)
        centres[empty] = members[side].mean(0)
        labels[rows[side]] = empty
        reseeded += 1
    return centres, labels, reseeded


def kl_to_target(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(P ‖ Q) averaged over cells."""
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q.clamp_min(1e-12)))).sum(1).mean()


# ------------------------------------------------------------------------------------ augmentation


def augment_features(
    x: torch.Tensor,
    mask_rate: float,
    noise: float,
    generator: torch.Generator,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Zero a random `mask_rate` of entries; add Gaussian noise of `noise` × `scale` per column.

    `scale` (1 × columns) defaults to the columns' std within `x`.
    """
    out = x
    if mask_rate > 0:
        keep = torch.rand(x.shape, generator=generator, device=x.device) >= mask_rate
        out = out * keep
    if noise > 0:
        if scale is None:
            scale = x.std(dim=0, keepdim=True) if x.shape[0] > 1 else torch.ones_like(x[:1])
        out = out + noise * scale * torch.randn(x.shape, generator=generator, device=x.device)
    return out


@contextlib.contextmanager
def deterministic(seed: int) -> Iterator[None]:
    """Seeded, deterministic torch within the block; the caller's global settings come back."""
    previous = torch.are_deterministic_algorithms_enabled()
    previous_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _set_deterministic(True, warn_only=True)
        try:
            yield
        finally:
            _set_deterministic(previous, warn_only=previous_warn)


def _set_deterministic(mode: bool, *, warn_only: bool) -> None:
    # `torch.use_deterministic_algorithms` also sets the flag of torch's compiler, whose import
    # costs about a second per process; nothing here is compiled, so only ATen's flag is set.
    torch._C._set_deterministic_algorithms(mode, warn_only=warn_only)
