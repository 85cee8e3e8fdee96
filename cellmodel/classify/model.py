"""The refinement's torch module and loss (pure torch; the training loop is in `training`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class RefineNet(nn.Module):
    """Linear–LayerNorm–ELU–Linear projection with an L2-normalized output.

    Residual (the default): the output is normalize(x / |x| + MLP(x)) with the MLP's last layer
    starting at zero, so training starts from the input's own cosine geometry (epoch 0 is the
    unrefined kNN) and moves away only as far as the labels pull it. The output then has the
    input's dimension. Without it, the MLP maps to `out_dim` from a random start.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual
        last = nn.Linear(hidden_dim, in_dim if residual else out_dim)
        if residual:
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim), nn.LayerNorm(hidden_dim), nn.ELU(), last
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        if self.residual:
            out = F.normalize(x, dim=1) + out
        return F.normalize(out, dim=1)


def supcon_loss(
    z: torch.Tensor, groups: torch.Tensor, weights: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, L_out) over 2B normalized views.

    `groups` gives each view's class (the two views of a cell share it); `weights` weighs each
    anchor. Every anchor has at least its twin as positive.
    """
    n = z.shape[0]
    logits = z @ z.T / temperature
    self_mask = torch.eye(n, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    positive = (groups[:, None] == groups[None, :]) & ~self_mask
    mean_log_prob = (log_prob.masked_fill(~positive, 0.0)).sum(1) / positive.sum(1)
    return -(weights * mean_log_prob).sum() / weights.sum()
