"""The clustering model's objectives (pure torch): symmetric InfoNCE, the link reconstruction,
the negative-binomial likelihood of raw counts (an option of the fit), DEC's Student-t soft
assignment, its Sinkhorn-balanced target and the KL to it, and the re-seeding of an emptied
cluster. The networks they train are in `cellmodel.module.model`."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


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
    mass, which is what keeps a cluster from swallowing its neighbours. The passes stop early
    only where one leaves P exactly as it was: every later pass would repeat it, so the result is
    the `n_iter` passes' to the bit.
    """
    log_p = sharpen * torch.log(q.clamp_min(1e-12))
    log_mass = torch.log(cluster_mass.clamp_min(1e-12)) + torch.log(
        torch.tensor(float(q.shape[0]), device=q.device)
    )
    for _ in range(n_iter):
        previous = log_p
        log_p = log_p - torch.logsumexp(log_p, dim=0, keepdim=True) + log_mass  # columns
        log_p = log_p - torch.logsumexp(log_p, dim=1, keepdim=True)  # rows
        if torch.equal(log_p, previous):
            break
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
