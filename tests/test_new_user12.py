"""A new user's first afternoon on real labelled files (lung atlases of 31 and 37 types, a
Pollen file stored z-scored): what they hit, on small synthetic stand-ins."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

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


def _cells(tmp_path) -> str:
    from tests.conftest import blobs

    data = blobs(40, dim=30, counts=True)
    data.var_names = [f"feature{i}" for i in range(data.n_vars)]
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    return str(path)


def test_classify_on_the_command_line_says_how_its_refinement_is_going(tmp_path):
    # A minute of training on 1,000 lung cells wrote nothing to stderr until the scores.
    from tests.conftest import run_cellmodel

    args = ["classify", _cells(tmp_path), "--label-key", "group", "--train-fraction", "0.5"]
    result = run_cellmodel(*args)
    assert result.exit_code == 0, result.output
    # Each net of the epoch search named (h49): "1/300" twice read as one count that restarted.
    search = "classify: contrastive refinement: epochs of search net 1/2 (at most; it stops early)"
    assert f"{search}: 1/300\n" in result.stderr


def test_progress_lines_count_epochs_and_steps_and_name_one_off_steps():
    from cli.progress import stage_progress

    now, lines = [0.0], []
    report = stage_progress(interval=1, clock=lambda: now[0], write=lines.append)
    report("annotate: lineage signatures", 0, 1)
    report("classify: contrastive refinement", 1, 300)
    now[0] = 2.0
    report("classify: contrastive refinement", 101, 300)
    report("classify: contrastive refinement", 1, 300)  # the search's next net starts afresh
    now[0] = 4.0
    report("classify: contrastive refinement", 201, 300)
    assert lines[0] == "annotate: lineage signatures"  # was "…: 0/1", a count stuck at 0
    assert lines[2].startswith("classify: contrastive refinement: 101/300 (34%), 50.0 epochs/s")
    assert lines[3] == "classify: contrastive refinement: 1/300"
    assert "100.0 epochs/s" in lines[4]  # timed from its own start, not the first net's


def test_cluster_on_the_command_line_names_its_fit_steps_and_checks(tmp_path):
    # A 3,704-cell loom clustered for 95 s (fit, checks, the plots' UMAP) without a line.
    from tests.conftest import run_cellmodel

    out = tmp_path / "out.h5ad"
    result = run_cellmodel("cluster", _cells(tmp_path), "-o", str(out), "-k", "3", "--seed", "0")
    assert result.exit_code == 0, result.output
    err = result.stderr
    assert "fit: pretraining: 1/" in err and "fit: refinement: 1/" in err
    assert "checks: the label-free checks of the partition\n" in err
    assert ": 0/1" not in err  # a one-off step is named, not counted at 0


def test_a_class_too_small_to_split_names_the_setting_that_caps_it(tmp_path):
    # "... or cap them" named no parameter; the user had to find --small-classes in --help.
    import pytest

    from cellmodel.classify import classify_cells
    from genekb.errors import GenekbError
    from tests.conftest import blobs, one_line_error, run_cellmodel

    cells = blobs(20, dim=30, counts=True)
    cells.obs["label"] = cells.obs["group"].astype(str)
    cells.obs.loc[cells.obs_names[0], "label"] = "rare"  # a one-cell class, as a lung atlas has
    with pytest.raises(GenekbError, match=r"one cell of each \(small_classes='cap'\)"):
        classify_cells(cells, label_key="label", train_fraction=0.5, refine_view=False)
    path = tmp_path / "cells.h5ad"
    cells.write_h5ad(path)
    args = ["classify", str(path), "--label-key", "label", "--train-fraction", "0.5"]
    line = one_line_error(run_cellmodel(*args))
    assert line.endswith("one cell of each (--small-classes 'cap')")


GENES = [
    "CD3E", "CD3D", "CD2", "CD19", "MS4A1", "CD79A", "LYZ", "CD14", "FCGR3A", "NKG7", "GNLY",
    "KLRD1", "PPBP", "PF4", "HBB", "HBA1", "EPCAM", "KRT8", "KRT18", "VIM", "COL1A1", "COL1A2",
    "DCN", "PECAM1", "VWF", "CDH5", "SFTPC", "SFTPB", "MKI67", "TOP2A",
]  # fmt: skip


def test_explain_describes_the_markers_of_a_file_clustered_without_the_semantic_view():
    # cm.tl.cluster(use_semantic=False), the quick path, then explain: every marker's
    # description was blank, the store passed or not, though the gene names are NCBI symbols.
    from tests.conftest import blobs

    adata = blobs(20, dim=len(GENES), counts=True)
    adata.var_names = GENES
    cm.tl.explain(adata, cluster_key="group", top_n=3)
    markers = adata.uns["cellmodel_explain"]["markers"]
    assert len(markers) == 9
    described = dict(zip(markers["gene"], markers["description"], strict=True))
    assert described["CD19"].startswith("CD19 molecule — GO: B cell")
    assert all(described.values())


def test_scaled_values_with_no_other_matrix_do_not_send_the_user_to_a_missing_layer(tmp_path):
    # Pollen's file (z-scored X, no layers, no .raw) was told to "pass a layer with counts or
    # log-normalized values with layer=": there is none to pass.
    import pytest

    from genekb.errors import GenekbError
    from tests.conftest import one_line_error, run_cellmodel

    rng = np.random.default_rng(0)
    adata = ad.AnnData(rng.standard_normal((30, len(GENES))).astype(np.float32))
    adata.var_names = GENES
    with pytest.raises(GenekbError, match=r"holds no other \(no layers, no \.raw\)") as caught:
        cm.pp.normalize(adata)
    assert "layer=" not in str(caught.value)
    path = tmp_path / "scaled.h5ad"
    adata.write_h5ad(path)
    line = one_line_error(run_cellmodel("cluster", str(path), "--no-semantic"))
    assert "--layer" not in line and "holds no other" in line
    adata.layers["counts"] = np.abs(adata.X).round()  # with a layer, it is named as before
    with pytest.raises(GenekbError, match=r"with layer= \(layers present: counts\)"):
        cm.pp.normalize(adata)


def test_calls_says_why_when_the_call_is_none_of_the_bars():
    # A lineage-first call ("monocyte" over the bars "classical monocyte", "CD14-positive
    # monocyte", ...) coloured no bar and said nothing: the call looked unrelated to its panel.
    import json

    why = "2 terms within 0.25 of the best; called their deepest common term"
    top = [{"label": "classical monocyte", "score": 17.3}, {"label": "CD14-positive monocyte",
           "score": 17.1}]  # fmt: skip
    groups = [
        {"group": "0", "label": "monocyte", "margin": 0.14, "top": top, "lineage": {"why": why}},
        {"group": "1", "label": "classical monocyte", "margin": 0.2, "top": top},
        {"group": "2", "label": "mast cell", "margin": 1.0, "top": top},
    ]
    report = {"groupby": "cellmodel_cluster", "method": "combined", "groups": groups}
    adata = ad.AnnData(np.zeros((3, 2), dtype=np.float32))
    adata.uns["cellmodel"] = {"annotate": {"report_json": json.dumps(report)}}
    titles = [ax.get_title() for ax in cm.pl.calls(adata, show=False)]
    assert titles[0] == f"0: monocyte (margin 0.14)\n{why}"
    assert titles[1] == "1: classical monocyte (margin 0.20)"  # a bar is coloured: no reason
    assert titles[2].endswith("\nthe call is none of these (see the report)")


def test_annotate_on_the_command_line_draws_what_a_notebook_draws(tmp_path):
    # cluster and classify took --plots, annotate did not: the calls and markers pictures of
    # cm.pl were out of the command line's reach ("No such option: --plots").
    import json

    from tests.conftest import one_line_error, run_cellmodel
    from tests.test_annotate import _islets

    src = tmp_path / "islets.h5ad"
    _islets().write_h5ad(src)
    plots = tmp_path / "plots"
    args = [
        "annotate", str(src), "--groupby", "kind", "--root", str(tmp_path / "store"),
        "--model", "fake", "--candidates", "type B pancreatic cell;pancreatic A cell;CL:0000173",
        "--plots", str(plots), "--json",
    ]  # fmt: skip
    result = run_cellmodel(*args)
    assert result.exit_code == 0, result.output
    drawn = [str(plots / "calls.png"), str(plots / "markers.png")]
    assert json.loads(result.stdout)["plots"] == drawn
    assert all(Path(p).stat().st_size > 1000 for p in drawn)
    assert "--force" in one_line_error(run_cellmodel(*args))  # not overwritten without it
    chunked = run_cellmodel(*args, "--force", "--chunk-size", "10", "-o", str(tmp_path / "o.h5ad"))
    assert "drop --chunk-size" in one_line_error(chunked, 2)


def test_a_label_column_with_unlabelled_cells_is_told_how_to_predict_them():
    # Half the cells labelled, the rest to predict: classify(adata, "half") said only "exactly one
    # of a train fraction, a per-class count or a train mask", none of which reads as "the
    # labelled ones".
    import pytest

    from genekb.errors import UsageError
    from tests.conftest import blobs

    adata = blobs(20, dim=30, counts=True)
    adata.obs["half"] = adata.obs["group"].astype(object).where(np.arange(adata.n_obs) % 2 == 0)
    with pytest.raises(UsageError, match=r"30 cell\(s\) have no label: .*\(adata\.obs\['half'\]"):
        cm.tl.classify(adata, "half")
    cm.tl.classify(adata, "half", train_mask=adata.obs["half"].notna(), refine=False)
    assert adata.obs["cellmodel_pred"].notna().all()  # the way out it names works
    with pytest.raises(UsageError, match=r"train mask \(train_mask=\)$"):  # all labelled: as before
        cm.tl.classify(adata, "group")
