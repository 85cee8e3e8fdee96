"""Cell–gene association refinement (after scRCL: Peng et al. 2025, arXiv 2512.10640), in a form
whose memory is linear in cells.

A gene encoder (one GCN layer over a sparse gene–gene graph) turns each gene's feature vector into
a gene embedding. Two cell views embed each cell: an MLP on its expression and a graph view on the
cell kNN graph. Each view's hidden vector is projected into gene space (one weight per gene) and
multiplied by the gene embeddings, so a cell is described through its association with every gene;
the normalised result is the refined embedding. Three losses train it: cross-view consistency
(cosine similarity of the two views against the kNN adjacency plus identity), distribution
alignment (symmetric KL of the views' softmax distributions, global and per cell) and
neighbourhood contrastive alignment (a cell's view distributions close to its neighbours', far
from the rest).

Where this departs from the paper, and why:
- Mini-batches, not the full n × n matrices. Every loss is evaluated on a batch of B cells (half
  drawn at random, half one random kNN neighbour of each), so each step holds B × B matrices and
  the whole fit is linear in cells; the paper builds dense n × n similarity and KL matrices, which
  caps it near 10k cells. Drawing a neighbour per seed cell keeps kNN pairs inside each batch, so
  the consistency and neighbourhood terms have positives to act on.
- The graph view propagates features once (SGC, Wu et al. 2019: Â²X computed before training, Â
  the symmetric-normalised kNN adjacency with self loops) and trains an MLP on them, instead of a
  two-layer GCN that would need every cell's neighbours in every step.
- Gene features: each gene's expression over a seeded sample of at most `max_gene_cells` cells,
  reduced to `gene_rank` dimensions by a truncated SVD (the caller does this; see
  `gene_features`). The paper feeds the full cells-long vector, whose width grows with n.
- The gene embedding width is fixed (`out_dim`), not the number of classes: k stays out of the
  representation.
- Epochs: a fixed number of steps with a label-free plateau rule on the training loss, never the
  best epoch by a score (the paper reports the best epoch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class RefineConfig:
    hidden_dim: int = 128
    out_dim: int = 32  # gene (and refined cell) embedding width
    dropout: float = 0.2
    temperature: float = 0.1  # softmax temperature of the distribution terms (the paper's t)
    neighbour_weight: float = 0.01  # the paper's lambda1
    consistency_weight: float = 0.1  # the paper's lambda2
    lr: float = 1e-3
    weight_decay: float = 1e-4
    batch_size: int = 256  # cells per step (half seeds, half a neighbour of each)
    max_steps: int = 1000
    min_steps: int = 100
    patience: int = 50  # steps without a `tol` relative improvement of the smoothed loss
    tol: float = 0.01
    seed: int = 0


@dataclass
class RefineFit:
    embedding: np.ndarray  # cells × out_dim, the refined (cell–gene association) embedding
    history: list[float] = field(default_factory=list)  # smoothed loss per step
    steps: int = 0
    stopped: str = ""


def normalized_adjacency(adjacency: sp.spmatrix) -> sp.csr_matrix:
    """D^-1/2 (A + I) D^-1/2 of a symmetric sparse adjacency (GCN's propagation matrix)."""
    a = sp.csr_matrix(adjacency, dtype=np.float32) + sp.identity(adjacency.shape[0], format="csr")
    a.data = np.minimum(a.data, 1.0)  # an edge counts once, with or without a given self loop
    d = np.asarray(a.sum(axis=1)).ravel()
    inv = sp.diags(1.0 / np.sqrt(np.maximum(d, 1e-12)).astype(np.float32))
    return (inv @ a @ inv).tocsr().astype(np.float32)


def to_torch_sparse(m: sp.spmatrix) -> torch.Tensor:
    coo = sp.coo_matrix(m)
    index = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(index, values, coo.shape, check_invariants=True).coalesce()


def propagate(X: np.ndarray, adjacency: sp.spmatrix, hops: int = 2) -> np.ndarray:
    """Â^hops X with sparse products only (memory: two cells × features copies)."""
    a = normalized_adjacency(adjacency)
    out = np.asarray(X, dtype=np.float32)
    for _ in range(hops):
        out = np.asarray(a @ out, dtype=np.float32)
    return out


def gene_features(X: np.ndarray, rank: int, seed: int) -> np.ndarray:
    """Genes × rank: each gene's expression over the cells of `X` (already a sample), reduced by a
    truncated SVD so the width does not grow with the number of cells."""
    genes_by_cells = torch.from_numpy(np.ascontiguousarray(X.T, dtype=np.float32))
    rank = max(1, min(rank, *genes_by_cells.shape))
    torch.manual_seed(seed)
    u, s, _ = torch.svd_lowrank(genes_by_cells, q=rank, niter=4)
    return (u * s).numpy().astype(np.float32)


class GeneEncoder(nn.Module):
    """One GCN layer over the gene graph: LeakyReLU(Â_g X_g W)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, features: torch.Tensor, gene_adj: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(torch.sparse.mm(gene_adj, self.linear(features)))


class CellGeneRefiner(nn.Module):
    """Two cell views → gene space → × gene embeddings (cell–gene association)."""

    def __init__(self, n_genes: int, gene_dim: int, config: RefineConfig) -> None:
        super().__init__()
        h = config.hidden_dim
        self.expression_view = nn.Sequential(nn.Linear(n_genes, h), nn.LeakyReLU())
        self.graph_view = nn.Sequential(
            nn.Linear(n_genes, h), nn.LeakyReLU(), nn.Linear(h, h), nn.LeakyReLU()
        )
        self.gene_encoder = GeneEncoder(gene_dim, config.out_dim)
        self.projector = nn.Linear(h, n_genes)  # one association weight per gene
        self.dropout = config.dropout

    def forward(
        self, x: torch.Tensor, x_prop: torch.Tensor, genes: torch.Tensor, gene_adj: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The two views' normalised hidden vectors (h1, h2) and associations (z1, z2)."""
        gene_emb = self.gene_encoder(genes, gene_adj)  # genes × out_dim
        # projector(h) @ gene_emb, factored so no cells × genes product is formed: the same
        # association, at hidden × genes × out_dim cost per step instead of batch × genes.
        weight = self.projector.weight.T @ gene_emb  # hidden × out_dim
        bias = self.projector.bias @ gene_emb
        hidden, assoc = [], []
        for h in (self.expression_view(x), self.graph_view(x_prop)):
            hidden.append(F.normalize(h, dim=1))
            h = F.dropout(h, self.dropout, self.training)
            assoc.append(F.normalize(h @ weight + bias, dim=1))
        return hidden[0], hidden[1], assoc[0], assoc[1]


def _sym_kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """Symmetric KL between rows of two log-distributions (same shape), per row."""
    p, q = p_log.exp(), q_log.exp()
    return (p * (p_log - q_log)).sum(-1) + (q * (q_log - p_log)).sum(-1)


def pairwise_sym_kl(p_log: torch.Tensor, q_log: torch.Tensor) -> torch.Tensor:
    """B × B: KL(p_i‖q_j) + KL(q_j‖p_i) for every pair of the batch."""
    p, q = p_log.exp(), q_log.exp()
    cross_pq = p @ q_log.T  # Σ p_i log q_j
    cross_qp = p_log @ q.T  # Σ q_j log p_i
    ent_p = (p * p_log).sum(-1, keepdim=True)
    ent_q = (q * q_log).sum(-1, keepdim=True).T
    return (ent_p - cross_pq) + (ent_q - cross_qp)


def losses(
    h1: torch.Tensor,
    h2: torch.Tensor,
    z1: torch.Tensor,
    z2: torch.Tensor,
    adj: torch.Tensor,
    config: RefineConfig,
) -> dict[str, torch.Tensor]:
    """The three terms on one batch, as the paper weighs them: distribution alignment and
    neighbourhood contrast on the views' hidden vectors (h), cross-view consistency on their
    cell–gene associations (z). `adj`: the batch's B × B kNN adjacency (0/1, no self loops)."""
    eye = torch.eye(h1.shape[0])
    target = torch.clamp(adj + eye, max=1.0)
    consistency = F.mse_loss(z1 @ z2.T, target)
    t = config.temperature
    p_log, q_log = F.log_softmax(h1 / t, dim=1), F.log_softmax(h2 / t, dim=1)
    per_cell = _sym_kl(p_log, q_log).mean()
    p_mean = p_log.exp().mean(0).clamp_min(1e-12).log()
    q_mean = q_log.exp().mean(0).clamp_min(1e-12).log()
    alignment = per_cell + _sym_kl(p_mean[None], q_mean[None]).mean()
    dist = pairwise_sym_kl(p_log, q_log)
    dist = 0.5 * (dist + dist.T)
    near = (dist * target).sum(1) / target.sum(1)
    far = (dist * (1 - eye)).sum(1) / max(h1.shape[0] - 1, 1)
    neighbour = (near / far.clamp_min(1e-8)).mean()
    total = alignment + config.neighbour_weight * neighbour
    total = total + config.consistency_weight * consistency
    return {"total": total, "consistency": consistency, "alignment": alignment,
            "neighbour": neighbour}  # fmt: skip


def _batch(adjacency: sp.csr_matrix, size: int, rng: np.random.Generator) -> np.ndarray:
    """Half random seed cells, half one random kNN neighbour of each (unique, sorted)."""
    n = adjacency.shape[0]
    seeds = rng.choice(n, min(n, max(1, size // 2)), replace=False)
    degree = np.diff(adjacency.indptr)[seeds]
    pick = adjacency.indptr[seeds] + (rng.random(len(seeds)) * np.maximum(degree, 1)).astype(int)
    neighbours = np.where(degree > 0, adjacency.indices[np.minimum(pick, adjacency.nnz - 1)], seeds)
    return np.unique(np.concatenate([seeds, neighbours]))


def fit(
    X: np.ndarray,
    X_prop: np.ndarray,
    adjacency: sp.spmatrix,
    genes: np.ndarray,
    gene_adjacency: sp.spmatrix,
    config: RefineConfig | None = None,
) -> RefineFit:
    """Train on mini-batches and embed every cell. `X`: cells × genes (scaled expression);
    `X_prop`: Â²X; `adjacency`: the cell kNN graph; `genes`: genes × gene_dim features;
    `gene_adjacency`: the symmetric gene graph (no self loops needed)."""
    config = config or RefineConfig()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    adjacency = sp.csr_matrix(adjacency)
    model = CellGeneRefiner(X.shape[1], genes.shape[1], config)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    g = torch.from_numpy(np.asarray(genes, dtype=np.float32))
    g_adj = to_torch_sparse(normalized_adjacency(gene_adjacency))
    history, best, since, stopped = [], np.inf, 0, "max_steps"
    smooth = None
    for step in range(config.max_steps):
        rows = _batch(adjacency, config.batch_size, rng)
        sub = torch.from_numpy(adjacency[rows][:, rows].toarray())
        views = model(torch.from_numpy(X[rows]), torch.from_numpy(X_prop[rows]), g, g_adj)
        loss = losses(*views, sub, config)["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
        history.append(smooth)
        if smooth < best * (1 - config.tol):
            best, since = smooth, 0
        else:
            since += 1
        if step + 1 >= config.min_steps and since >= config.patience:
            stopped = "plateau"
            break
    return RefineFit(embed(model, X, X_prop, g, g_adj), history, len(history), stopped)


@torch.no_grad()
def embed(
    model: CellGeneRefiner,
    X: np.ndarray,
    X_prop: np.ndarray,
    genes: torch.Tensor,
    gene_adj: torch.Tensor,
    chunk: int = 4096,
) -> np.ndarray:
    """The refined embedding of every cell: the mean of the two views, normalised, in chunks."""
    model.eval()
    parts = []
    for start in range(0, X.shape[0], chunk):
        stop = start + chunk
        _, _, z1, z2 = model(torch.from_numpy(X[start:stop]),
                             torch.from_numpy(X_prop[start:stop]), genes, gene_adj)  # fmt: skip
        parts.append(F.normalize(z1 + z2, dim=1).numpy())
    model.train()
    return np.concatenate(parts).astype(np.float32)
