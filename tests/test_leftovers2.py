"""Leftovers noticed in review, outside annotate: a store's list and gc (a newer genekb's version,
a killed holder's lock card), and the cell steps' keys, stale results, count detection, plots,
progress lines and torch's thread count."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from genekb.build import build
from genekb.store.store import Store
from tests.conftest import make_genes
from tests.conftest import run_genekb as run


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "s"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(40), tag="human")
    return root


def test_list_calls_a_newer_genekbs_version_newer_not_damaged(store):
    # Its manifest's format "genekb-store/2" was listed as "damaged", beside the advice for
    # damage, while every other command says "written by a newer genekb … upgrade genekb".
    (manifest,) = (store / "embeddings").glob("*/manifest.json")
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "format": "genekb-store/2"}))
    listed = run("list", "--root", str(store), "--json")
    assert listed.exit_code == 0, listed.output
    rows = {r["kind"]: r["status"] for r in json.loads(listed.stdout)["versions"]}
    assert rows == {"text": "ok", "embedding": "newer"}
    table = run("list", "--root", str(store))
    assert "damaged" not in table.output and "upgrade genekb" in table.stderr, table.output


def test_gc_removes_a_killed_holders_lock_card(store):
    # A holder killed between taking a lock and letting it go leaves `<name>.lock.holder`; gc
    # said "nothing to remove" and left it for ever.
    locks = store / "locks"
    (locks / "emb-0123456789abcdef.lock").touch()
    card = locks / "emb-0123456789abcdef.lock.holder"
    card.write_text(f"999999999 {socket.gethostname()} genekb build\n")
    live = locks / "txt-0123456789abcdef.lock.holder"  # a running process's card stays
    live.write_text(f"{os.getpid()} {socket.gethostname()} genekb build\n")
    result = run("gc", "--root", str(store), "--json")
    assert result.exit_code == 0, result.output
    removed = [e["path"] for e in json.loads(result.stdout)["removed"]]
    assert removed == ["locks/emb-0123456789abcdef.lock.holder"]
    assert not card.exists() and live.exists()


@pytest.mark.slow  # loads MiniLM (sentence-transformers' import is most of it)
def test_an_encoder_leaves_the_sessions_torch_thread_count_as_it_was(monkeypatch):
    # A notebook's torch.set_num_threads(1) was undone for the whole process by the first
    # encoder load (it set every core and kept it).
    import torch

    from genekb.encoders.registry import load

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("GENEKB_THREADS", "2")  # what genekb takes while it encodes
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        encoder = load("minilm", "cpu")
        assert torch.get_num_threads() == 1
        assert encoder.encode(["CD3E T cell receptor"]).shape == (1, 384)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_classifys_progress_names_the_net_whose_epochs_it_counts():
    # Each net of the epoch search reported "classify: contrastive refinement 1/300" afresh and
    # most stopped early, so the count restarted and never reached its end, under one name.
    from cellmodel.classify import classify_cells
    from genekb.progress import reporting
    from tests.conftest import blobs

    seen: dict[str, int] = {}
    data = blobs(40, dim=30, counts=True)
    with reporting(lambda stage, done, total: seen.setdefault(stage, total)):
        classify_cells(data, label_key="group", train_fraction=0.5, seed=0)
    search = "classify: contrastive refinement: epochs of search net {}/2 (at most; it stops early)"
    assert [search.format(1), search.format(2)] == list(seen)[:2], list(seen)
    assert set(list(seen)[2:]) <= {"classify: contrastive refinement: epochs of the final net"}


def test_umap_of_many_groups_gives_each_its_own_colour_then_says_when_they_repeat():
    # Past 61 groups a continuous map coloured neighbouring groups nearly alike (150 groups: 42
    # pairs closer than 0.02 in RGB), without a word.
    import anndata as ad
    import numpy as np
    import pandas as pd
    from matplotlib.colors import to_rgb

    import cellmodel as cm
    from cellmodel.pl.colours import SharedColourWarning, palette

    rgb = np.array([to_rgb(c) for c in palette(102)])
    gaps = np.sqrt(((rgb[:, None] - rgb[None]) ** 2).sum(-1)) + np.eye(102)
    assert gaps.min() > 0.05
    n = 150
    cells = ad.AnnData(np.zeros((2 * n, 3), dtype=np.float32))
    cells.obs["group"] = pd.Categorical([f"g{i % n}" for i in range(2 * n)])
    cells.obsm["X_umap"] = np.random.default_rng(0).normal(size=(2 * n, 2))
    with pytest.warns(SharedColourWarning, match=r"obs\['group'\] has 150 groups, more than"):
        cm.pl.umap(cells, "group", rep="X_umap", show=False)


@pytest.mark.slow  # a Dask cluster starts (most of its half minute)
def test_annotate_out_of_core_drops_scanpys_results_on_the_names_it_replaces(fake_spec, tmp_path):
    # In memory, annotating again removes rank_genes_groups / the dendrogram of the last names
    # (scanpy's plots drew the old groups' markers under the new names); the out-of-core copy
    # kept them beside the new names.
    pytest.importorskip("dask")
    import anndata as ad
    import numpy as np

    from cellmodel.annotate import annotate
    from cellmodel.chunked.annotate import annotate_h5ad
    from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

    store, data = _planted(fake_spec), _islets()
    settings = {"groupby": "kind", "candidates": [BETA, ALPHA, DELTA], "n_markers": 5, "top_k": 2,
                "n_background": 200, "model": "fake", "load_encoder": _TextEncoder}  # fmt: skip
    stale = {
        "rank_genes_groups": {"params": {"groupby": "cellmodel_annotation", "method": "t-test"}},
        "dendrogram_cellmodel_annotation": {"linkage": np.zeros((2, 4))},
        "on_kind": {"params": {"groupby": "kind"}},  # of another column: kept
    }
    data.obs["cellmodel_annotation"] = "old"
    data.uns.update(stale)
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    data.write_h5ad(source)
    in_memory = annotate(data, store, copy=True, **settings)
    annotate_h5ad(source, store, output=out, chunk_size=30, workers=1, **settings)
    on_disk = ad.read_h5ad(out)
    assert "rank_genes_groups" not in in_memory.uns and "on_kind" in in_memory.uns
    assert sorted(set(stale) & set(on_disk.uns)) == sorted(set(stale) & set(in_memory.uns))


@pytest.mark.slow  # four classify runs
def test_classify_under_a_second_key_added_keeps_the_first_runs_record_and_view():
    # The second run's uns["cellmodel_classify"] and obsm["X_classify"] replaced the first's, so
    # obs["first"] was left without its scores, parameters or refined view.
    import numpy as np

    import cellmodel as cm
    from genekb.errors import UsageError
    from tests.conftest import blobs

    data = blobs(40, dim=30, counts=True)
    cm.tl.classify(data, "group", train_fraction=0.5, seed=0, epochs=5)
    first = np.array(data.obsm["X_classify"])
    cm.tl.classify(data, "group", train_fraction=0.5, seed=1, epochs=5, key_added="second")
    assert data.uns["cellmodel_classify"]["params"]["key_added"] == "cellmodel_pred"
    assert data.uns["second"]["params"]["key_added"] == "second"
    assert np.array_equal(data.obsm["X_classify"], first) and "X_second" in data.obsm
    cm.tl.classify(data, "group", train_fraction=0.5, seed=2, epochs=5, key_added="second")
    data.uns["neighbors"] = {"params": {"n_neighbors": 15}}  # scanpy's, not a classify record
    with pytest.raises(UsageError, match=r"would overwrite uns\['neighbors'\]"):
        cm.tl.classify(data, "group", train_fraction=0.5, key_added="neighbors")
    data.obsm["X_umap"] = first[:, :2]
    with pytest.raises(UsageError, match=r"would overwrite obsm\['X_umap'\]"):
        cm.tl.classify(data, "group", train_fraction=0.5, key_added="umap")


def _counts(n_cells: int = 300, n_genes: int = 2000, seed: int = 0):
    """Counts as a droplet file holds them (a few genes high, most at 0-2), none over 30."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    means = rng.lognormal(-1.5, 1.5, n_genes) * rng.lognormal(0, 0.5, (n_cells, 1))
    return sp.csr_matrix(np.minimum(rng.poisson(np.minimum(means, 25)), 30).astype(np.float32))


def _ambient_corrected(counts, how: str):
    """SoupX-like (a small soup share taken off each count) or DecontX-like (each count scaled
    down by its cell's contamination estimate)."""
    import numpy as np

    out = counts.copy()
    cells = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
    if how == "soupx":
        soup = np.asarray(counts.sum(axis=0)).ravel() / counts.sum()
        totals = np.asarray(counts.sum(axis=1)).ravel()
        out.data = np.maximum(out.data - 0.1 * soup[counts.indices] * totals[cells], 0)
    else:
        out.data = out.data * np.random.default_rng(1).uniform(0.6, 1.0, out.data.size)
    out.eliminate_zeros()
    return out.astype(np.float32)


@pytest.mark.parametrize("how", ["soupx", "decontx"])
def test_ambient_corrected_counts_under_30_read_as_counts_and_log_values_as_log(how, tmp_path):
    # Non-integer values all <= 30 read as log-normalized, so SoupX / DecontX output was used
    # as it was, never normalized: the deepest cells looked the most expressed.
    import anndata as ad
    import numpy as np

    from cellmodel.chunked import h5
    from cellmodel.chunked.embed import value_kind
    from cellmodel.io import detect_kind, normalize

    counts = _counts()
    corrected = _ambient_corrected(counts, how)
    assert corrected.max() <= 30 and not np.all(corrected.data == np.round(corrected.data))
    assert detect_kind(corrected) == "counts"
    path = tmp_path / "corrected.h5ad"
    ad.AnnData(corrected).write_h5ad(path)
    assert value_kind(h5.pick(path, None), None)[1] == "counts"  # out of core reads the same
    logged = normalize(counts, "counts")  # log1p(normalize_total): still log, a gene subset too
    assert detect_kind(logged) == detect_kind(logged[:, 100:1100]) == "log"
    log2 = counts.copy()
    log2.data = np.log2(log2.data / 1.7 + 1)  # scran's logcounts: log2(counts / size factor + 1)
    assert detect_kind(log2) == "log"


@pytest.mark.slow  # three fits
def test_cluster_under_key_added_keeps_the_first_clustering_and_its_names(one_torch_thread):
    # sc.tl.leiden takes key_added; cm.tl.cluster refused it ("copy it first"), so a second
    # clustering (another k, a subset's settings) always replaced the first and its names.
    import numpy as np

    import cellmodel as cm
    from genekb.errors import UsageError
    from tests.conftest import FAST_FIT, blobs

    data = blobs(30, dim=20, counts=True)
    cm.tl.cluster(data, n_clusters=3, use_semantic=False, seed=0, **FAST_FIT)
    first = data.obs["cellmodel_cluster"].copy()
    latent, record = np.array(data.obsm["X_cellmodel"]), dict(data.uns["cellmodel"])
    data.uns["rank_genes_groups"] = {"params": {"groupby": "k2"}}  # of the key's last clusters
    for _ in range(2):  # the second time over its own first run
        cm.tl.cluster(data, n_clusters=2, use_semantic=False, seed=0, key_added="k2",
                      label_key="group", **FAST_FIT)  # fmt: skip
    assert data.obs["cellmodel_cluster"].equals(first) and data.obs["k2"].nunique() == 2
    assert np.array_equal(data.obsm["X_cellmodel"], latent) and "X_k2" in data.obsm
    assert data.uns["cellmodel"]["n_clusters"] == record["n_clusters"] == 3
    assert "metrics" not in data.uns["cellmodel"]  # the first run was not scored
    assert data.uns["k2"]["n_clusters"] == 2 and data.uns["k2"]["key_added"] == "k2"
    assert set(data.uns["k2"]["metrics"]) >= {"ari", "nmi"}
    assert "rank_genes_groups" not in data.uns
    data.obsm["X_umap"] = latent[:, :2]
    with pytest.raises(UsageError, match=r"would overwrite obsm\['X_umap'\]"):
        cm.tl.cluster(data, n_clusters=2, use_semantic=False, key_added="umap", **FAST_FIT)
    with pytest.raises(UsageError, match="another cellmodel step"):
        cm.tl.cluster(data, n_clusters=2, use_semantic=False, key_added="cellmodel_pred")
