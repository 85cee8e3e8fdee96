"""The state of one clustering fit and its two training loops (pretraining, OT refinement).

`Fitter` holds the data on the device, the neighbour sampler, the network and the seeded random
streams; `cellmodel.cluster.fit.fit_clusters` drives it (see that module for the procedure).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from cellmodel.cluster.options import ClusterOptions
from cellmodel.cluster.sampling import NeighbourSampler
from cellmodel.module.losses import (
    info_nce,
    kl_to_target,
    link_loss,
    nb_nll,
    sinkhorn_target,
    split_for_empty,
    student_t,
)
from cellmodel.module.model import ClusterNet, augment_features
from cellmodel.pp.graph import KnnGraph
from genekb.errors import UsageError
from genekb.progress import active_stage_hook


def standardize(X: np.ndarray) -> np.ndarray:
    """Centre the columns and divide by the overall RMS: O(1) inputs, relative scales kept."""
    X = np.asarray(X, dtype=np.float32)
    X = X - X.mean(axis=0, keepdims=True)
    rms = float(np.sqrt(np.mean(X**2)))
    return X / rms if rms > 0 else X


class Fitter:
    """State of one run: data on the device, the sampler, the network and its optimiser."""

    def __init__(
        self,
        X_pca: np.ndarray,
        graph: KnnGraph,
        semantic: np.ndarray | None,
        options: ClusterOptions,
        seed: int,
        device: str,
        counts: Any = None,
        count_batch: np.ndarray | None = None,
    ) -> None:
        self.o = options
        self.device = torch.device(device)
        self.counts = _count_matrix(counts, X_pca) if options.count_weight > 0 else None
        self.count_batch = _one_hot(count_batch, self.device) if self.counts is not None else None
        self.x = torch.from_numpy(standardize(X_pca)).to(self.device)
        self.s = (
            torch.from_numpy(standardize(semantic)).to(self.device)
            if semantic is not None
            else None
        )
        self.n = self.x.shape[0]
        # Noise is scaled per column by the whole data's spread, not the batch's.
        self.x_std = self.x.std(dim=0, keepdim=True)
        self.s_std = None if self.s is None else self.s.std(dim=0, keepdim=True)
        self.graph = graph
        rows, cols = graph.adjacency.nonzero()
        self.full_edges = torch.from_numpy(np.vstack([cols, rows]).astype(np.int64)).to(self.device)
        self.sampler = NeighbourSampler(graph.adjacency, options.fanouts, options.edge_drop)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator(device=self.device)
        self.gen.manual_seed(seed)
        self.net = ClusterNet(
            self.x.shape[1],
            None if self.s is None else self.s.shape[1],
            hidden_dim=options.hidden_dim,
            latent_dim=options.latent_dim,
            projection_dim=options.projection_dim,
            conv=options.conv,
            dropout=options.dropout,
            layer_norm=options.layer_norm,
            semantic_weight=options.semantic_weight,
            self_share=options.self_share,
            count_genes=None if self.counts is None else self.counts.shape[1],
            count_batches=0 if self.count_batch is None else self.count_batch.shape[1],
        ).to(self.device)
        # The whole graph's GCN matrix, built once for every `embed` (None for SAGE / GAT).
        self.full_operator = self.net.structure.full_graph_operator(self.full_edges, self.n)
        self.history: list[dict[str, float]] = []
        self.reseeded = 0  # empty clusters re-seeded during refinement

    # -- one augmented view of a batch
    def _view(self, batch: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Structure (and semantic) latents of `batch` (repeats allowed) under one augmentation."""
        cells, inverse = np.unique(batch, return_inverse=True)
        nodes, edges, sizes = self.sampler.sample(cells, self.rng)
        nodes_t = torch.from_numpy(nodes).to(self.device)
        o = self.o
        x = augment_features(self.x[nodes_t], o.feature_mask, o.feature_noise, self.gen, self.x_std)
        h = self.net.structure(x, torch.from_numpy(edges).to(self.device), sizes)
        e = None
        if self.net.semantic is not None and self.s is not None:
            s = self.s[nodes_t[: cells.size]]
            s = augment_features(s, o.feature_mask, o.feature_noise, self.gen, self.s_std)
            e = self.net.semantic(s)
        rows = torch.from_numpy(inverse.ravel()).to(self.device)
        return h[rows], None if e is None else e[rows]

    def _partners(self, batch: np.ndarray) -> np.ndarray:
        """For `positives="neighbour"` or the link loss: a random graph neighbour of each cell
        (itself if it has none)."""
        if self.o.positives == "self" and self.o.link_weight == 0:
            return batch
        indptr = self.sampler.indptr
        degrees = indptr[batch + 1] - indptr[batch]
        offset = (self.rng.random(batch.size) * np.maximum(degrees, 1)).astype(np.int64)
        pick = indptr[batch] + offset
        return np.where(degrees > 0, self.sampler.indices[np.minimum(pick, indptr[-1] - 1)], batch)

    def _batch(self) -> np.ndarray:
        if self.n <= self.o.batch_size:
            return np.arange(self.n)
        return np.sort(self.rng.choice(self.n, self.o.batch_size, replace=False))

    def _step_losses(
        self, batch: np.ndarray, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, dict[str, float]]:
        o, net = self.o, self.net
        partners = self._partners(batch)
        (h1, e1), (h2, e2) = self._view(batch), self._view(partners)
        x1 = self.x[torch.from_numpy(batch).to(self.device)]
        x2 = self.x[torch.from_numpy(partners).to(self.device)]
        parts: dict[str, torch.Tensor] = {}
        parts["reconstruction"] = 0.5 * (
            torch.mean((net.decoder(h1) - x1) ** 2) + torch.mean((net.decoder(h2) - x2) ** 2)
        )
        weights = {"reconstruction": o.reconstruction_weight}
        if self.counts is not None:
            # One view: the partners are the batch's own cells unless neighbours are drawn.
            parts["counts"] = self._nb(batch, h1)
            weights["counts"] = o.count_weight
        p1, p2 = net.structure_head(h1), net.structure_head(h2)
        if o.view_weight > 0:
            parts["view"] = info_nce(p1, p2, o.temperature)
            weights["view"] = o.view_weight
        if e1 is not None and e2 is not None and net.semantic_head is not None:
            parts["alignment"] = 0.5 * (
                info_nce(p1, net.semantic_head(e1), o.temperature)
                + info_nce(p2, net.semantic_head(e2), o.temperature)
            )
            weights["alignment"] = o.alignment_weight
        if o.link_weight > 0 and target is None:  # pretraining only
            negatives = torch.randint(
                0,
                h2.shape[0],
                (h1.shape[0], o.link_negatives),
                generator=self.gen,
                device=self.device,
            )
            parts["link"] = link_loss(h1, h2, negatives)
            weights["link"] = o.link_weight
        if target is not None and net.centres is not None:
            p1 = target[torch.from_numpy(batch).to(self.device)]
            p2 = target[torch.from_numpy(partners).to(self.device)]
            q1 = student_t(net.fuse(h1, e1), net.centres, o.student_alpha)
            q2 = student_t(net.fuse(h2, e2), net.centres, o.student_alpha)
            parts["cluster"] = 0.5 * (kl_to_target(p1, q1) + kl_to_target(p2, q2))
            weights["cluster"] = o.cluster_weight
        total = sum(weights[name] * value for name, value in parts.items())
        assert isinstance(total, torch.Tensor)
        return total, {name: float(value.detach()) for name, value in parts.items()}

    def _nb(self, cells: np.ndarray, h: torch.Tensor) -> torch.Tensor:
        assert self.counts is not None and self.net.count_decoder is not None
        assert self.net.log_theta is not None
        part = self.counts[cells].tocoo()
        x = torch.sparse_coo_tensor(
            torch.from_numpy(np.vstack([part.row, part.col]).astype(np.int64)),
            torch.from_numpy(part.data.astype(np.float32)),
            part.shape,
            check_invariants=False,  # built from a valid scipy matrix
        ).to(self.device)
        if self.count_batch is not None:
            h = torch.cat([h, self.count_batch[torch.from_numpy(cells).to(self.device)]], dim=1)
        return nb_nll(x, h, self.net.count_decoder, self.net.log_theta)

    @torch.no_grad()
    def embed(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Structure latent and fused latent of every cell (no augmentation, the full graph)."""
        self.net.eval()
        h = self.net.structure(self.x, self.full_edges, operator=self.full_operator)
        e = None
        if self.net.semantic is not None and self.s is not None:
            e = self.net.semantic(self.s)
        self.net.train()
        return h, self.net.fuse(h, e)

    def pretrain(self) -> str:
        o = self.o
        optimiser = torch.optim.Adam(self.net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        smooth, best, best_step = None, float("inf"), 0
        report = active_stage_hook()  # a Python session's bar; the step limit is its total
        for step in range(o.pretrain_steps):
            if report is not None:
                report("fit: pretraining", step + 1, o.pretrain_steps)
            loss, parts = self._step_losses(self._batch(), None)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            value = float(loss.detach())
            self.history.append({"phase": 0.0, "step": float(step), "loss": value, **parts})
            smooth = value if smooth is None else 0.9 * smooth + 0.1 * value
            # The loss can be negative-free but near zero; compare on the scale of |best|.
            if smooth < best - o.plateau_tol * abs(best):
                best, best_step = smooth, step
            if step + 1 >= o.min_pretrain_steps and step - best_step >= o.plateau_patience:
                return f"plateau at step {step + 1}"
        return f"step limit {o.pretrain_steps}"

    def refine(self, k: int) -> tuple[str, int]:
        o = self.o
        optimiser = torch.optim.Adam(self.net.parameters(), lr=o.lr, weight_decay=o.weight_decay)
        previous: torch.Tensor | None = None
        target: torch.Tensor | None = None
        uniform = torch.full((k,), 1.0 / k, device=self.device)
        assert self.net.centres is not None
        report = active_stage_hook()
        for step in range(o.cluster_steps):
            if report is not None:
                report("fit: refinement", step + 1, o.cluster_steps)
            if step % o.target_every == 0:
                _, z = self.embed()
                q = student_t(z, self.net.centres.detach(), o.student_alpha)
                labels = q.argmax(1)
                if self.reseeded < k and bool((torch.bincount(labels, minlength=k) == 0).any()):
                    # A cluster the soft target kept alive but no cell picks: bisect the largest
                    # cluster to re-seed it, and do not stop on this refresh.
                    centres, _, count = split_for_empty(z, self.net.centres.detach(), labels)
                    self.reseeded += count
                    self.net.centres.data.copy_(centres)
                    q = student_t(z, self.net.centres.detach(), o.student_alpha)
                    labels, previous = q.argmax(1), None
                if previous is not None:
                    changed = float((labels != previous).float().mean())
                    self.history.append({"phase": 1.5, "step": float(step), "changed": changed})
                    if changed < o.tol:
                        return f"label change {changed:.4f} < tol at step {step}", step
                previous = labels
                mass = (1.0 - o.balance) * q.mean(0) + o.balance * uniform
                target = sinkhorn_target(q, mass, sharpen=o.sharpen, n_iter=o.sinkhorn_iters)
            loss, parts = self._step_losses(self._batch(), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            self.history.append(
                {"phase": 1.0, "step": float(step), "loss": float(loss.detach()), **parts}
            )
        return f"step limit {o.cluster_steps}", o.cluster_steps


def _count_matrix(counts: Any, X_pca: np.ndarray) -> sp.csr_matrix | None:
    if counts is None:
        return None
    matrix = sp.csr_matrix(counts, dtype=np.float32)
    if matrix.shape[0] != X_pca.shape[0]:
        raise UsageError(f"counts has {matrix.shape[0]} cells but X_pca has {X_pca.shape[0]}")
    return matrix


def _one_hot(batch: np.ndarray | None, device: torch.device) -> torch.Tensor | None:
    """Cells × batches indicator matrix; None for no batch or a single one."""
    if batch is None:
        return None
    _, codes = np.unique(np.asarray(batch).astype(str), return_inverse=True)
    if codes.max() == 0:
        return None
    return torch.from_numpy(np.eye(codes.max() + 1, dtype=np.float32)[codes]).to(device)
