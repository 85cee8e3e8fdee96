"""Counts drawn from a model fitted to a real labelled count file: the supplement issue 63 asks
for where no more labelled files of a kind can be had (never a primary figure).

The model (`fit_count_model`): each type's mean expression profile (the mean of its cells'
count fractions), one inverse dispersion per gene (method of moments on counts scaled to the
median library size, variances pooled within types, so the types' differences are not read as
noise), the file's library sizes and type proportions. `draw_counts` then draws a new file:

- `overlap` in [0, 1) pulls every type's profile toward the file's mean profile
  (`(1 - overlap) * own + overlap * mean`): 0 keeps the fitted differences, 0.9 leaves a tenth;
- `stimulation` > 0 gives half the cells (obs["condition"]) a shared response: a fixed 5 % of
  the genes move by a log-fold drawn from Normal(0, stimulation), in every type alike, as an
  IFN-stimulated/control design does;
- `plates` > 1 assigns cells to plates (obs["plate"]), each moving every gene by a log-fold
  from Normal(0, PLATE_SD): a technical batch across all types;
- library sizes are drawn from the file's own, and counts are gamma–Poisson (negative
  binomial) around each cell's mean.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp

from genekb.errors import UsageError

RESPONSE_SHARE = 0.05  # of the genes, moved by the stimulation
PLATE_SD = 0.3  # log-fold sd of a plate's effect on each gene
THETA_RANGE = (0.05, 1000.0)  # inverse dispersion kept within these bounds
DRAW_CHUNK = 2000  # cells drawn at a time (a dense chunk of cells × genes)


@dataclass(frozen=True)
class CountModel:
    """A fitted per-type negative-binomial model of a count file (module docstring)."""

    genes: list[str]
    types: list[str]
    profiles: np.ndarray  # types × genes, each row sums to 1
    theta: np.ndarray  # genes
    library_sizes: np.ndarray  # the file's cells' total counts
    proportions: np.ndarray  # types
    source: str


def fit_count_model(
    adata: ad.AnnData, label_key: str, *, n_genes: int = 5000, source: str = ""
) -> CountModel:
    """The model of `adata`'s counts (X) by type (`obs[label_key]`), over its `n_genes` genes of
    highest mean fraction; cells without a label are left out."""
    labels = adata.obs[label_key]
    keep = labels.notna().to_numpy()
    X = sp.csr_matrix(adata.X[keep], dtype=np.float64)
    if X.shape[0] < 2 or (X.data < 0).any() or not np.allclose(X.data, np.round(X.data)):
        raise UsageError("fit_count_model needs raw counts (whole numbers ≥ 0) in X")
    sizes = np.asarray(X.sum(axis=1)).ravel()
    some = sizes > 0
    X, sizes = X[some], sizes[some]
    types, codes = np.unique(labels.astype(str).to_numpy()[keep][some], return_inverse=True)
    fractions = sp.diags(1.0 / sizes) @ X
    top = np.sort(np.argsort(-np.asarray(fractions.mean(axis=0)).ravel())[:n_genes])
    scaled = (fractions[:, top] * np.median(sizes)).toarray()
    profiles = np.vstack([scaled[codes == t].mean(axis=0) for t in range(len(types))])
    within = sum(((scaled[codes == t] - profiles[t]) ** 2).sum(axis=0) for t in range(len(types)))
    variance, mean = within / max(len(codes) - len(types), 1), scaled.mean(axis=0)
    theta = np.clip(mean**2 / np.maximum(variance - mean, 1e-12), *THETA_RANGE)
    profiles = np.maximum(profiles, 1e-12)
    return CountModel(
        genes=[str(g) for g in np.asarray(adata.var_names)[top]],
        types=[str(t) for t in types],
        profiles=profiles / profiles.sum(axis=1, keepdims=True),
        theta=theta,
        library_sizes=sizes,
        proportions=np.bincount(codes, minlength=len(types)) / len(codes),
        source=source,
    )


def draw_counts(
    model: CountModel,
    n_cells: int,
    *,
    overlap: float = 0.0,
    stimulation: float = 0.0,
    plates: int = 0,
    seed: int = 0,
) -> ad.AnnData:
    """A new count file from `model` (module docstring): obs["cell_type"] holds each cell's
    type, obs["condition"] and obs["plate"] the design where asked for, uns["simulation"] how it
    was drawn."""
    if not 0 <= overlap < 1 or stimulation < 0 or plates < 0 or n_cells < 2:
        raise UsageError("overlap must be in [0, 1), stimulation and plates ≥ 0, n_cells ≥ 2")
    rng = np.random.default_rng(seed)
    n_genes = len(model.genes)
    mixed = model.proportions @ model.profiles
    profiles = (1 - overlap) * model.profiles + overlap * mixed
    types = rng.choice(len(model.types), n_cells, p=model.proportions)
    obs = pd.DataFrame({"cell_type": pd.Categorical(np.asarray(model.types)[types])})
    design = _Design(n_cells, n_genes)
    if stimulation > 0:
        design.stimulated = rng.random(n_cells) < 0.5
        design.response = rng.choice(n_genes, max(1, int(RESPONSE_SHARE * n_genes)), replace=False)
        design.shift = rng.normal(0, stimulation, design.response.size)
        obs["condition"] = pd.Categorical(np.where(design.stimulated, "stimulated", "control"))
    if plates > 1:
        design.plate = rng.integers(0, plates, n_cells)
        design.plate_folds = rng.normal(0, PLATE_SD, (plates, n_genes))
        obs["plate"] = pd.Categorical([f"plate{p + 1}" for p in design.plate])
    sizes = rng.choice(model.library_sizes, n_cells)
    X = sp.vstack(
        [_chunk(rng, profiles[types[s]], design.folds(s), sizes[s], model.theta)
         for s in (slice(i, i + DRAW_CHUNK) for i in range(0, n_cells, DRAW_CHUNK))],
        format="csr",
    )  # fmt: skip
    obs.index = [f"sim{i}" for i in range(n_cells)]
    out = ad.AnnData(X, obs=obs, var=pd.DataFrame(index=model.genes))
    out.uns["simulation"] = _record(model, n_cells, overlap, stimulation, plates, seed)
    return out


@dataclass
class _Design:
    """The stimulation and plates drawn for a file, turned into log-folds a chunk at a time (a
    cells × genes matrix of them for every cell would take gigabytes at 10^5 cells)."""

    n_cells: int
    n_genes: int
    stimulated: np.ndarray | None = None  # per cell
    response: np.ndarray | None = None  # the genes the stimulation moves
    shift: np.ndarray | None = None  # their log-folds
    plate: np.ndarray | None = None  # per cell
    plate_folds: np.ndarray | None = None  # plates × genes

    def folds(self, cells: slice) -> np.ndarray:
        out = np.zeros((len(range(self.n_cells)[cells]), self.n_genes))
        if self.stimulated is not None:
            out[np.ix_(self.stimulated[cells], self.response)] += self.shift
        if self.plate is not None:
            out += self.plate_folds[self.plate[cells]]
        return out


def _chunk(
    rng: np.random.Generator, profiles: np.ndarray, folds: np.ndarray, sizes: np.ndarray,
    theta: np.ndarray,
) -> sp.csr_matrix:  # fmt: skip
    """Gamma–Poisson counts of some cells around their means (library size × moved profile)."""
    moved = profiles * np.exp(folds)
    mean = sizes[:, None] * moved / moved.sum(axis=1, keepdims=True)
    counts = rng.poisson(rng.gamma(theta, mean / theta))
    return sp.csr_matrix(counts.astype(np.float32))


def _record(
    model: CountModel, n_cells: int, overlap: float, stimulation: float, plates: int, seed: int
) -> dict[str, Any]:
    return {
        "source": model.source, "n_cells": n_cells, "n_genes": len(model.genes),
        "n_types": len(model.types), "overlap": overlap, "stimulation": stimulation,
        "plates": plates, "seed": seed, "response_share": RESPONSE_SHARE, "plate_sd": PLATE_SD,
    }  # fmt: skip
