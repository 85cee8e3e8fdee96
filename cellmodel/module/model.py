"""Pure-torch building blocks of the clustering model (no data handling, no fitting loop).

- `GraphEncoder`: a two-layer graph encoder over cells (our mean GCN by default; torch_geometric's
  GAT or SAGE);
- `Projection`: the MLP heads that map each view into the space where views are contrasted;
- `ClusterNet`: structure encoder + reconstruction decoder + heads, an optional semantic encoder,
  the fused latent and the cluster centres;
- augmentations: feature masking and noise (edge dropping lives in `cellmodel.cluster`'s sampler,
  where edges are drawn).

The losses are in `cellmodel.module.losses`; the fitting procedure is
`cellmodel.cluster.fit.fit_clusters`.
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

    def full_graph_operator(self, edge_index: torch.Tensor, n_cells: int) -> torch.Tensor | None:
        """What `forward(..., operator=)` takes for a pass over a whole graph: GCN's mean matrix,
        built once for every such pass over the same edges (both layers share it, and on a large
        graph building it costs more than the pass). None for SAGE and GAT, which read the edges.
        """
        if self.conv_type != "gcn":
            return None
        return mean_adjacency(edge_index, n_cells, n_cells, self.self_share)

    def _layer(
        self,
        index: int,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        n_dst: int,
        operator: torch.Tensor | None,
    ) -> torch.Tensor:
        n_src = x.shape[0]
        layer = self.layers[index]
        if operator is not None:
            return layer(x, operator)
        edges = edge_index[:, edge_index[1] < n_dst] if n_dst < n_src else edge_index
        if self.conv_type == "gcn":
            return layer(x, mean_adjacency(edges, n_dst, n_src, self.self_share))
        return layer((x, x[:n_dst]), edges, size=(n_src, n_dst))

    def forward(
        self,
        x: torch.Tensor,
        edge_index: torch.Tensor,
        sizes: tuple[int, int] | None = None,
        operator: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """`operator`: `full_graph_operator(edge_index, len(x))`, for a whole-graph pass only."""
        if operator is not None and sizes is not None:
            raise ValueError("a prebuilt operator is for a whole-graph pass (sizes=None)")
        n_out, n_hidden = sizes if sizes is not None else (x.shape[0], x.shape[0])
        h = F.elu(self.norm(self._layer(0, x, edge_index, n_hidden, operator)))
        h = F.dropout(h, self.dropout, self.training)
        return self._layer(1, h, edge_index, n_out, operator)


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
