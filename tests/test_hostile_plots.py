"""A hostile user's round on the pictures: `cm.pl.*` and the commands that write a figure."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import anndata as ad  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402

from genekb.errors import GenekbError  # noqa: E402


def _planar(n: int = 80) -> ad.AnnData:
    """Cells with a 2-d layout already (drawn as it is: no UMAP to compute)."""
    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.poisson(2.0, (n, 6)).astype(np.float32))
    adata.var_names = [f"G{i}" for i in range(6)]
    adata.obs_names = [f"c{i}" for i in range(n)]
    adata.obsm["X_umap"] = rng.normal(size=(n, 2)).astype(np.float32)
    return adata


def _face_colours(ax) -> dict[str, tuple[float, ...]]:
    """Each legend entry's colour."""
    legend = ax.get_legend()
    return {
        text.get_text(): to_rgb(handle.get_facecolor()[0])
        for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)
    }


@pytest.mark.parametrize("n_groups", [15, 20, 45, 60])
def test_no_group_is_drawn_in_the_grey_of_the_unassigned_cells(n_groups):
    # Past 10 groups the palette took tab20 (and tab20c past 40) whole, greys and all: with
    # unassigned cells, one group's #c7c7c7 (or #d9d9d9) sat beside NA's light grey, and the
    # two read as one.
    import matplotlib.pyplot as plt

    import cellmodel as cm

    adata = _planar(n_groups * 2 + 10)
    names = [f"g{i:02d}" for i in range(n_groups)] * 2 + [None] * 10
    adata.obs["group"] = pd.Categorical(names)
    ax = cm.pl.umap(adata, "group", rep="X_umap", show=False)
    colours = _face_colours(ax)
    plt.close("all")
    na = to_rgb("lightgrey")
    groups = {name: c for name, c in colours.items() if name != "NA"}
    assert colours["NA"] == na and len(groups) == min(n_groups, 40)
    greys = [name for name, (r, g, b) in groups.items() if max(r, g, b) - min(r, g, b) < 0.02]
    assert not greys, [(name, to_hex(groups[name])) for name in greys]
    assert len(set(groups.values())) == len(groups)  # no colour for two groups
