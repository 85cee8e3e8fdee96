"""The notebook user's API: `import cellmodel as cm` / `import genekb as gk` on real data
(pbmc68k-reduced, shipped in scanpy), the same labels and names as the command line, the same
defaults, progress that `verbosity` silences, and every picture function drawing a file."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import cellmodel as cm
import genekb as gk
from genekb.errors import GenekbError, UsageError
from tests.conftest import run_cellmodel

CANDIDATES = "T cell;B cell;monocyte;natural killer cell;dendritic cell;megakaryocyte"
N_CELLS = 240  # a seeded sample of pbmc68k-reduced's 700 cells keeps the fits quick


@pytest.fixture(scope="module")
def pbmc_file(tmp_path_factory) -> Path:
    """A seeded sample of pbmc68k-reduced's cells, its log values in X, as an .h5ad."""
    import scanpy as sc

    full = sc.datasets.pbmc68k_reduced()
    cells = np.random.default_rng(0).choice(full.n_obs, N_CELLS, replace=False)
    adata = full.raw.to_adata()[np.sort(cells)].copy()
    adata.obs = full.obs.iloc[np.sort(cells)][["bulk_labels"]].copy()
    path = tmp_path_factory.mktemp("pbmc") / "pbmc.h5ad"
    adata.write_h5ad(path)
    return path


@pytest.fixture(scope="module")
def run(pbmc_file, tmp_path_factory, fake_spec):
    """The API run the picture tests draw: clusters, explanations, names (fake encoder store)."""
    root = tmp_path_factory.mktemp("store")
    adata = cm.pp.read(pbmc_file)
    cm.tl.cluster(adata, root, n_clusters=6, use_semantic=False, seed=0)
    cm.tl.explain(adata, root, top_n=5)
    cm.tl.annotate(adata, root, candidates=CANDIDATES.split(";"), model="fake")
    cm.tl.classify(adata, "bulk_labels", per_class=5, small_classes="cap", seed=0)
    return adata, root


def test_import_cellmodel_and_cm_tl_load_neither_torch_nor_anndata() -> None:
    # cm.tl and cm.pp are touched, not run: torch loads with the first tl function used
    code = (
        "import sys, cellmodel as cm; cm.tl, cm.pp;"
        " print('torch' in sys.modules, 'anndata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_public_names_are_listed_and_reachable() -> None:
    assert set(cm.__all__) >= {"pp", "tl", "pl", "settings"}
    for name in cm.tl.__all__ + cm.pl.__all__ + cm.pp.__all__:
        assert callable(getattr(cm.tl, name, None) or getattr(cm.pl, name, None)
                        or getattr(cm.pp, name))  # fmt: skip
    assert callable(gk.eval) and callable(gk.build) and callable(gk.similar)
    assert gk.eval.evaluate.__module__ == "genekb.eval.evaluate"  # still the package too
    with pytest.raises(AttributeError):
        cm.nothing  # noqa: B018
    # tab completion offers the public names only, not imports such as typing's Any
    for module in (cm, cm.tl, cm.pl, cm.pp, gk):
        assert dir(module) == sorted(module.__all__)


def test_settings_verbosity_is_checked_and_shared() -> None:
    assert cm.settings is gk.settings
    before = cm.settings.verbosity
    try:
        cm.settings.verbosity = "info"
        assert gk.settings.verbosity == 2
        with pytest.raises(UsageError, match="verbosity"):
            cm.settings.verbosity = 7
    finally:
        cm.settings.verbosity = before


def test_quiet_session_has_no_bars_and_a_bar_appears_only_after_its_delay(capsys) -> None:
    from genekb.progress import active_stage_hook, stage_bars

    before = cm.settings.verbosity, cm.settings.progress_delay
    try:
        cm.settings.verbosity = 0
        with stage_bars() as hook:
            assert hook is None and active_stage_hook() is None
        cm.settings.verbosity, cm.settings.progress_delay = 1, 0.0
        with stage_bars() as hook:
            assert active_stage_hook() is hook
            for done in range(0, 11, 5):
                hook("build", done, 10)
        assert "build" in capsys.readouterr().err
        cm.settings.progress_delay = 60.0  # a quick step stays silent
        with stage_bars() as hook:
            hook("build", 10, 10)
        assert "build" not in capsys.readouterr().err
    finally:
        cm.settings.verbosity, cm.settings.progress_delay = before


def _tl_defaults(function) -> dict:
    return {n: p.default for n, p in inspect.signature(function).parameters.items()}


@pytest.mark.parametrize(
    ("api", "cli", "renamed"),
    [
        ("cluster", "cluster_cmd.cluster", {"use_semantic": "semantic"}),
        ("annotate", "annotate_cmd.annotate", {"ontology_subtree": "subtree"}),
        ("classify", "classify_cmd.classify", {}),
        ("explain", "cellmodel_app.explain", {"top_n": "top"}),
        ("embed", "cellmodel_app.embed", {}),
    ],
)
def test_the_api_has_the_command_lines_defaults(api, cli, renamed) -> None:
    import importlib

    module, name = cli.split(".")
    command = getattr(importlib.import_module(f"cli.{module}"), name)
    cli_defaults = _tl_defaults(command)
    api_defaults = _tl_defaults(getattr(cm.tl, api))
    shared = 0
    for key, value in api_defaults.items():
        flag = renamed.get(key, key)
        if flag in cli_defaults and value is not inspect.Parameter.empty:
            # --batch-key unset means "auto" (the registry's column), as the API's default says
            expected = "auto" if flag == "batch_key" else cli_defaults[flag]
            assert value == expected, (api, key)
            shared += 1
    assert shared >= 2


@pytest.mark.slow
def test_api_and_command_line_give_the_same_labels_and_names(pbmc_file, tmp_path, run) -> None:
    out = tmp_path / "cli.h5ad"
    named = tmp_path / "cli_named.h5ad"
    root = str(run[1])
    clustered = run_cellmodel(
        "cluster", str(pbmc_file), "-k", "6", "--no-semantic", "--seed", "0", "--root", root,
        "-o", str(out),
    )  # fmt: skip
    assert clustered.exit_code == 0, clustered.output
    annotated = run_cellmodel(
        "annotate", str(out), "--candidates", CANDIDATES, "--model", "fake", "--root", root,
        "-o", str(named), "--json",
    )  # fmt: skip
    assert annotated.exit_code == 0, annotated.output
    import anndata as ad

    cli = ad.read_h5ad(named)
    api = run[0]
    assert list(cli.obs["cellmodel_cluster"]) == list(api.obs["cellmodel_cluster"])
    assert list(cli.obs["cellmodel_annotation"]) == list(api.obs["cellmodel_annotation"])
    assert cli.obs["cellmodel_annotation"].nunique() >= 2  # names, not one label everywhere


def test_copy_returns_a_new_anndata_and_leaves_the_input(pbmc_file, tmp_path) -> None:
    adata = cm.pp.read(pbmc_file)
    out = cm.pp.normalize(adata, copy=True)
    assert out is not adata and "cellmodel_pp" in out.uns and "cellmodel_pp" not in adata.uns
    assert out.uns["cellmodel_pp"]["kind"] == "log"
    assert cm.pp.normalize(adata) is None and "cellmodel_pp" in adata.uns
    result = cm.tl.classify(
        adata, "bulk_labels", per_class=5, small_classes="cap", seed=0, copy=True
    )
    assert "cellmodel_pred" in result.obs and "cellmodel_pred" not in adata.obs


def test_embed_writes_the_semantic_view(pbmc_file, tmp_path, fake_spec) -> None:
    adata = cm.pp.read(pbmc_file)
    out = cm.tl.embed(adata, tmp_path, model="fake", sentence_top_n=0, copy=True)
    assert out.obsm["X_semantic"].shape == (N_CELLS, fake_spec.dim)
    assert "X_semantic" not in adata.obsm
    assert out.uns["cellmodel"]["gene_match"]["match_rate"] > 0.9
    with pytest.raises(GenekbError, match="no fake vectors"):
        cm.tl.embed(adata, tmp_path / "empty", model="fake", sentence_top_n=0, build=False)


def test_a_refused_fit_option_leaves_the_anndata_as_it_was(pbmc_file, tmp_path) -> None:
    # The semantic view is written into the AnnData before the fit reads its options: a wrong
    # option must be refused before it, not after.
    adata = cm.pp.read(pbmc_file)
    keys = sorted(adata.obsm), sorted(adata.uns)
    wrongs = ({"pretrain_steps": -5}, {"bogus": 1}, {"refine": "cell-gene", "gene_graph": "x"})
    for wrong in wrongs:
        with pytest.raises(UsageError, match=r"pretrain_steps|bogus|gene_graph='x'"):
            cm.tl.cluster(adata, tmp_path, n_clusters=3, model="fake", **wrong)
        assert (sorted(adata.obsm), sorted(adata.uns)) == keys, wrong


def test_a_run_stopped_inside_its_fit_leaves_the_anndata_as_it_was(
    pbmc_file, tmp_path, monkeypatch
) -> None:
    # The semantic view is already in obsm and uns when the fit runs; a stop there (an error,
    # or Ctrl-C in a notebook) must take it back out, as a refusal before it does.
    import cellmodel.cluster.job as job

    adata = cm.pp.read(pbmc_file)
    adata.uns["mine"] = {"kept": 1}
    before = sorted(adata.obsm), sorted(adata.uns), list(adata.obs.columns)

    def stopped(*_args, **_kwargs):
        assert "X_semantic" in adata.obsm  # the view was written before the fit
        raise KeyboardInterrupt

    monkeypatch.setattr(job, "fit_clusters", stopped)
    with pytest.raises(KeyboardInterrupt):
        cm.tl.cluster(adata, tmp_path, n_clusters=3, model="fake")
    assert (sorted(adata.obsm), sorted(adata.uns), list(adata.obs.columns)) == before
    assert adata.uns["mine"] == {"kept": 1}


def test_api_refuses_as_the_command_line_does(pbmc_file) -> None:
    adata = cm.pp.read(pbmc_file)
    with pytest.raises(UsageError, match="n_clusters"):
        cm.tl.cluster(adata, n_clusters=0, use_semantic=False)
    with pytest.raises(UsageError, match="AnnData"):
        cm.tl.explain(np.zeros((3, 3)))
    with pytest.raises(GenekbError, match="neither a file nor a dataset"):
        cm.pp.read("no-such-dataset")


@pytest.mark.slow
def test_pictures_draw_and_save(run, tmp_path) -> None:
    adata = run[0]
    adata.write_h5ad(tmp_path / "run.h5ad")  # everything the API wrote is h5ad-safe
    assert {"markers", "semantic_genes", "json"} <= set(adata.uns["cellmodel_explain"])
    axes = cm.pl.umap(adata, ["cellmodel_cluster", "cellmodel_annotation"], show=False)
    assert [a.get_title() for a in axes] == ["cellmodel_cluster", "cellmodel_annotation"]
    assert adata.obsm["X_umap_cellmodel"].shape == (adata.n_obs, 2)
    panels = cm.pl.calls(adata, n_top=3, show=False)
    assert len(panels) == adata.obs["cellmodel_cluster"].nunique()
    assert cm.pl.markers(adata, n_genes=2, show=False).get_ylabel() == "cellmodel_cluster"
    ax = cm.pl.confusion(adata, "bulk_labels", key="cellmodel_pred", show=False)
    assert "held-out" in ax.get_xlabel()
    for name, draw in {
        "umap": lambda p: cm.pl.umap(adata, save=p),
        "calls": lambda p: cm.pl.calls(adata, save=p),
        "markers": lambda p: cm.pl.markers(adata, save=p),
        "confusion": lambda p: cm.pl.confusion(adata, "bulk_labels", save=p),
    }.items():
        path = tmp_path / f"{name}.png"
        assert draw(path) is None and path.read_bytes()[:4] == b"\x89PNG", name
    bare = adata.copy()
    bare.uns["cellmodel"] = {k: v for k, v in bare.uns["cellmodel"].items() if k != "annotate"}
    with pytest.raises(GenekbError, match=r"cm\.tl\.annotate"):
        cm.pl.calls(bare)


def test_genekb_api_builds_finds_and_evaluates(run, tmp_path) -> None:
    root = tmp_path / "store"
    from genekb.eval.tasks import resolve_task

    genes = [*resolve_task("dosage-tfs").genes, "CD3E", "CD3D", "CD19"]
    report = gk.build(root, genes=genes, model="fake")
    assert report["tag"] == "human/ncbi-card/fake"
    hits = gk.similar(root, "CD3E", k=4, model="fake")["hits"]
    assert len(hits) == 4
    ax = gk.pl.neighbours(root, "CD3E", k=4, model="fake", show=False)
    assert ax.get_title() == "nearest genes to CD3E (fake)"
    evaluated = gk.eval(root, ["dosage-tfs"], refs=["human/ncbi-card/fake"], seeds=1, folds=3)
    scores = evaluated["results"][0]["scores"]
    assert {"vectors", "shuffled", "random"} <= set(scores)
    path = tmp_path / "eval.png"
    assert gk.pl.eval(evaluated, "dosage-tfs", save=path) is None and path.stat().st_size > 0
