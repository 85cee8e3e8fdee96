"""A hostile user's round on the pictures: `cm.pl.*` and the commands that write a figure."""

from __future__ import annotations

import anndata as ad
import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex, to_rgb

from genekb.errors import GenekbError

matplotlib.use("Agg")  # headless, as a server's notebook or CI draws


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


def _classified(n: int = 30) -> ad.AnnData:
    """Cells as `cm.tl.classify` leaves them: predictions and which cells trained."""
    adata = _planar(n)
    adata.obs["label"] = pd.Categorical(np.array(["x", "y", "z"])[np.arange(n) % 3])
    adata.obs["cellmodel_pred"] = adata.obs["label"].astype(str)
    adata.obs["cellmodel_pred_train"] = np.arange(n) < 9
    return adata


@pytest.mark.parametrize(
    "trained",
    [
        np.where(np.arange(30) < 9, "True", "False"),  # text, as a CSV of obs read back as text
        [True] * 9 + [np.nan] * 21,  # a file joined to one never classified
    ],
)
def test_a_train_column_not_of_bools_is_refused_not_read_as_all_training(trained):
    # As bools, the text "False" and a missing value both read True: every cell counted as a
    # training cell, and the plot failed with "no cells to score" (or drew a few cells only).
    import cellmodel as cm

    adata = _classified()
    adata.obs["cellmodel_pred_train"] = pd.Series(trained, index=adata.obs_names, dtype=object)
    with pytest.raises(GenekbError, match="must say True or False for each cell"):
        cm.pl.confusion(adata, "label", "cellmodel_pred", show=False)


def test_every_cell_trained_says_so_and_how_to_draw_them():
    # "no cells to score" left the user to guess that held_out= dropped every cell.
    import matplotlib.pyplot as plt

    import cellmodel as cm

    adata = _classified()
    adata.obs["cellmodel_pred_train"] = True
    with pytest.raises(GenekbError, match=r"every cell trained the classifier.*held_out=False"):
        cm.pl.confusion(adata, "label", "cellmodel_pred", show=False)
    ax = cm.pl.confusion(adata, "label", "cellmodel_pred", held_out=False, show=False)
    assert "held-out" not in ax.get_xlabel()
    # a 0/1 column is read as the bools it stands for
    adata.obs["cellmodel_pred_train"] = (np.arange(30) < 9).astype(int)
    ax = cm.pl.confusion(adata, "label", "cellmodel_pred", show=False)
    assert "held-out" in ax.get_xlabel()
    assert sum(int(t.get_text()) for t in ax.texts) == 21
    plt.close("all")


def test_held_out_takes_a_bool_only():
    import cellmodel as cm
    from genekb.errors import UsageError

    with pytest.raises(UsageError, match="held_out='no' must be True or False"):
        cm.pl.confusion(_classified(), "label", "cellmodel_pred", held_out="no", show=False)


def test_cluster_plots_of_three_cells_is_refused_before_the_run(tmp_path):
    # A UMAP takes 4 cells: `cluster --plots` of a 3-cell file fitted, then failed with the
    # notebook's advice ("pass another rep="), leaving an empty plots folder behind.
    from tests.conftest import one_line_error, run_cellmodel

    cells = three_groups_of_one(tmp_path / "three.h5ad")
    plots, out = tmp_path / "plots", tmp_path / "out.h5ad"
    result = run_cellmodel("cluster", str(cells), "--no-semantic", "--plots", str(plots),
                           "-o", str(out))  # fmt: skip
    line = one_line_error(result)
    assert "--plots draws a UMAP, which needs 4 cells or more; the input has 3" in line
    assert "rep=" not in line and "fit" not in result.stderr
    assert not plots.exists() and not out.exists()


def three_groups_of_one(path):
    """A file of three cells, one of each group."""
    from tests.conftest import blobs

    adata = blobs(10, dim=20, counts=True)
    adata[[0, 10, 20]].copy().write_h5ad(path)
    return path


@pytest.fixture
def annotated() -> ad.AnnData:
    """Three groups with the record `cm.tl.annotate` leaves (each group's four genes its
    markers, the first two behind its name); obs['g'] keeps an unused category."""
    import json

    from tests.conftest import three_groups

    adata = three_groups()
    adata.obs["g"] = pd.Categorical(adata.obs["grp"].astype(str), categories=[*"abc", "unused"])
    groups = [
        {"group": g, "label": name, "markers": [f"G{4 * i + j}" for j in range(4)],
         "signature": [f"G{4 * i}", f"G{4 * i + 1}"], "margin": 0.5,
         "top": [{"label": name, "score": 2.0}, {"label": "other", "score": 1.5}]}
        for i, (g, name) in enumerate(zip("abc", ["B cell", "monocyte", "T cell"], strict=True))
    ]  # fmt: skip
    report = {"groupby": "g", "method": "combined", "groups": groups}
    adata.uns["cellmodel"] = {"annotate": {"report_json": json.dumps(report)}}
    return adata


def _dots(ax) -> np.ndarray:
    """The dot plot's colour values (one per group × gene)."""
    return np.asarray(ax.collections[0].get_array(), dtype=float)


def test_markers_draws_every_dot_beside_a_category_without_cells(annotated):
    # An unused category was a row of NaN means, and the scaling by each gene's range made
    # every dot of the plot NaN: a blank dot plot.
    import matplotlib.pyplot as plt

    import cellmodel as cm

    ax = cm.pl.markers(annotated, show=False)
    rows = [t.get_text() for t in ax.get_yticklabels()]
    values = _dots(ax)
    plt.close("all")
    assert rows == ["a: B cell", "b: monocyte", "c: T cell"]
    assert len(values) == 3 * 9 and np.isfinite(values).all()  # 3 markers of each group


def test_markers_refuses_groups_the_annotation_did_not_name(annotated):
    # Renamed groups were drawn as rows without a name and no ring: a plot of another grouping
    # under the annotation's title.
    import cellmodel as cm

    adata = annotated.copy()
    adata.obs["g"] = adata.obs["g"].cat.rename_categories(["A", "B", "C", "unused"])
    with pytest.raises(GenekbError, match=r"obs\['g'\] holds groups the annotation did not name"):
        cm.pl.markers(adata, show=False)


@pytest.mark.parametrize(
    ("command", "flag", "name"),
    [
        (["cluster", "{cells}", "--no-semantic"], "--plots", "umap.png"),
        (["classify", "{cells}", "--label-key", "group"], "--plots", "confusion.PNG"),
        (["bench", "--datasets", "synthetic-60"], "--out", "bench.json"),
    ],
)
def test_a_file_name_given_where_a_folder_goes_is_refused(tmp_path, command, flag, name):
    # `--plots umap.png` made a folder umap.png/ and wrote umap.png inside it.
    from tests.conftest import one_line_error, run_cellmodel

    cells = tmp_path / "cells.h5ad"
    args = [a.replace("{cells}", str(cells)) for a in command]
    line = one_line_error(run_cellmodel(*args, flag, str(tmp_path / name)), 2)
    assert f"{flag} {tmp_path / name} names a file; give a folder for" in line
    assert not (tmp_path / name).exists()


def _bench_report() -> dict:
    """What the bench's summary holds: two methods on one dataset, the second failed."""
    ok = {"mean": 0.8, "std": 0.05}
    return {
        "summary": [
            {"dataset": "pbmc", "method": "pca-kmeans", "status": "ok", "ari": ok},
            {"dataset": "pbmc", "method": "leiden", "status": "failed", "ari": None},
        ]
    }


def test_the_bench_chart_leaves_a_notebook_s_backend_alone(tmp_path):
    # plot_ari called matplotlib.use("Agg"): a notebook that ran the bench (run_bench writes
    # ari.png) then showed none of its figures.
    import matplotlib

    from cellmodel.bench.report import plot_ari

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # any backend other than Agg stands for the notebook's
    try:
        plot_ari(_bench_report(), tmp_path / "ari.png")
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    assert (tmp_path / "ari.png").stat().st_size > 0


def test_the_bench_chart_marks_a_failed_run_not_an_empty_slot(tmp_path, monkeypatch):
    # A failed method was an empty slot beside the others' bars: an ARI of 0 at a glance.
    from matplotlib.figure import Figure

    from cellmodel.bench.report import plot_ari

    drawn: list = []
    real = Figure.savefig
    monkeypatch.setattr(
        Figure, "savefig", lambda fig, *a, **k: (drawn.append(fig), real(fig, *a, **k))
    )
    plot_ari(_bench_report(), tmp_path / "ari.png")
    (ax,) = drawn[0].axes
    assert [t.get_text() for t in ax.texts] == ["failed"]
    assert ax.texts[0].get_position()[0] == pytest.approx(1.0)  # over "leiden", the second


def test_plots_force_over_a_folder_named_like_a_plot_is_refused_before_the_run(tmp_path):
    # --force let the run start; at its end the picture could not replace a folder, and the
    # message was the notebook's ("save=... is a folder; name a file in it").
    from tests.conftest import blobs, one_line_error, run_cellmodel

    blobs(20, dim=20, counts=True).write_h5ad(tmp_path / "cells.h5ad")
    (tmp_path / "plots" / "umap.png").mkdir(parents=True)
    result = run_cellmodel("cluster", str(tmp_path / "cells.h5ad"), "--no-semantic", "--plots",
                           str(tmp_path / "plots"), "--force")  # fmt: skip
    line = one_line_error(result)
    assert f"{tmp_path / 'plots' / 'umap.png'} is a folder; move it away" in line
    assert "save=" not in line


def test_umap_of_a_view_draws_without_turning_it_into_a_copy(monkeypatch):
    # Keeping the layout on a view made anndata warn ("Setting element .obsm of view,
    # initializing view as actual") from a plot call, and the view became a copy.
    import warnings

    import matplotlib.pyplot as plt

    import cellmodel as cm
    import cellmodel.pl.embedding as embedding

    monkeypatch.setattr(embedding, "umap_coordinates", lambda latent, seed: latent[:, :2] + 0)
    adata = _planar(40)
    adata.obsm["X_cellmodel"] = np.random.default_rng(1).normal(size=(40, 5))
    adata.obs["grp"] = pd.Categorical(np.array(["a", "b"])[np.arange(40) % 2])
    view = adata[adata.obs["grp"] == "a"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = cm.pl.umap(view, "grp", show=False)
    plt.close("all")
    assert view.is_view and ax.get_title() == "grp"
    assert "X_umap_cellmodel" not in adata.obsm


def test_umap_refuses_groups_that_read_alike_as_text():
    # 1 and "1" were two colours under one legend name "1" (the scores and cm.pl.confusion read
    # them as one class).
    import cellmodel as cm

    adata = _planar(30)
    adata.obs["mixed"] = pd.Series([1, "1", 2] * 10, index=adata.obs_names, dtype=object)
    with pytest.raises(GenekbError, match="holds the groups 1 and '1', which read alike as text"):
        cm.pl.umap(adata, "mixed", rep="X_umap", show=False)


def test_confusion_holds_out_the_training_cells_of_any_key_added():
    # Only cellmodel_pred's training cells were held out by default: a classify run under
    # key_added="pred2" drew its training cells scoring themselves.
    import matplotlib.pyplot as plt

    import cellmodel as cm

    adata = _classified()
    adata.obs["pred2"] = adata.obs.pop("cellmodel_pred")
    adata.obs["pred2_train"] = adata.obs.pop("cellmodel_pred_train")
    ax = cm.pl.confusion(adata, "label", "pred2", show=False)
    drawn = sum(int(t.get_text()) for t in ax.texts)
    plt.close("all")
    assert "held-out" in ax.get_xlabel() and drawn == 21  # 30 cells, 9 trained


def test_calls_fits_its_columns_to_the_groups(annotated):
    # ncols=10 for three groups drew a figure seven empty panels wide; an edited record of no
    # group failed in matplotlib ("Number of rows must be a positive integer").
    import json

    import matplotlib.pyplot as plt

    import cellmodel as cm

    axes = cm.pl.calls(annotated, ncols=10, show=False)
    width = axes[0].figure.get_size_inches()[0]
    plt.close("all")
    assert len(axes) == 3 and width == pytest.approx(3 * 4.4)
    annotated.uns["cellmodel"]["annotate"]["report_json"] = json.dumps(
        {"groupby": "g", "method": "combined", "groups": []}
    )
    with pytest.raises(GenekbError, match="the annotation names no group"):
        cm.pl.calls(annotated, show=False)
