"""A new user's first afternoon on real labelled files (lung atlases of 31 and 37 types, a
Pollen file stored z-scored): what they hit, on small synthetic stand-ins."""

from __future__ import annotations

import hashlib
import warnings

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd

import cellmodel as cm
from cellmodel.pl.embedding import UMAP_KEY

matplotlib.use("Agg")


def _many_types(n_types: int = 37, per_type: int = 4) -> ad.AnnData:
    """Cells of `n_types` long-named types (as a lung atlas names them) with a 2-d latent."""
    rng = np.random.default_rng(0)
    names = [f"naive thymus-derived CD{i}-positive, alpha-beta T cell" for i in range(n_types)]
    labels = np.repeat(names, per_type)
    adata = ad.AnnData(rng.random((len(labels), 5)).astype(np.float32))
    adata.obs["cell_type"] = pd.Categorical(labels, categories=names)
    latent = rng.standard_normal((len(labels), 4)).astype(np.float32)
    adata.obsm["X_rep"] = latent
    # The layout as cm.pl.umap keeps it, so the test draws without running UMAP.
    digest = hashlib.blake2b(latent.tobytes(), digest_size=8).hexdigest()
    adata.obsm[UMAP_KEY] = latent[:, :2]
    adata.uns[UMAP_KEY] = {
        "params": {"rep": "X_rep", "seed": 0, "digest": f"{latent.shape}:{digest}"}
    }
    return adata


def test_umap_of_many_long_named_types_keeps_its_panel_and_tells_the_colours_apart(tmp_path):
    # One legend column of 37 entries stood taller than the figure: constrained layout gave up
    # ("axes sizes collapsed to zero") and drew every panel as a thin strip; a continuous
    # colour map gave neighbouring types the same dark red.
    adata = _many_types()
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="constrained_layout not applied")
        ax = cm.pl.umap(adata, "cell_type", rep="X_rep", show=False)
        ax.figure.savefig(tmp_path / "umap.png")
    legend = ax.get_legend()
    assert legend._ncols == 3  # scanpy's rule past 30 entries
    height = ax.get_position().height * ax.figure.get_figheight()
    assert height > 2.0  # inches: a panel, not a strip
    colours = np.array([h.get_facecolor()[0][:3] for h in legend.legend_handles])
    gaps = np.linalg.norm(colours[:, None] - colours[None], axis=2)[np.triu_indices(37, 1)]
    assert gaps.min() > 0.05
