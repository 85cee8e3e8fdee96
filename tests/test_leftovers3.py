"""Leftovers of a review: a multiome's "left out" line said twice on the command line, the
out-of-core annotate report without its input notes, the TF-IDF fit's error on a tiny source,
and a no-op rebuild refused on a read-only store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from genekb.build import build
from genekb.errors import UsageError
from genekb.store.store import Store
from genekb.store.store_root import ReadOnlyStore
from tests.conftest import FAST_FIT, make_genes, mount_read_only, run_cellmodel
from tests.test_consistency_paths import _multiome

LEFT_OUT = "features that are not 'Gene Expression' left out"


def _said(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if LEFT_OUT in line]


@pytest.mark.usefixtures("one_torch_thread")
@pytest.mark.parametrize("chunked", [False, True])
def test_a_multiome_left_out_line_is_said_once_by_cluster(tmp_path, chunked):
    # It came twice: once as the FeaturesLeftOutWarning, once among the run's notes.
    pytest.importorskip("dask")
    path = tmp_path / "multiome.h5ad"
    _multiome(120).write_h5ad(path)
    fast = [a for k, v in FAST_FIT.items() for a in ("--option", f"{k}={v}")]
    mode = ["--chunk-size", "50"] if chunked else ["--no-semantic", *fast]
    result = run_cellmodel("cluster", str(path), "-k", "2", "-o", str(tmp_path / "o.h5ad"), *mode)
    assert result.exit_code == 0, result.output
    said = _said(result.stderr)
    assert len(said) == 1 and said[0].startswith("warning:"), result.stderr


def _islets_with_peaks():
    import anndata as ad

    from tests.test_annotate import _islets

    genes = _islets()
    peaks = [f"chr1:{i}-{i + 500}" for i in range(6)]
    counts = np.random.default_rng(1).poisson(5, (genes.n_obs, len(peaks))).astype(np.float32)
    var = pd.DataFrame(
        {"feature_types": ["Gene Expression"] * genes.n_vars + ["Peaks"] * len(peaks)},
        index=[*genes.var_names, *peaks],
    )
    return ad.AnnData(sp.csr_matrix(np.hstack([genes.X, counts])), obs=genes.obs, var=var)


@pytest.mark.slow  # two annotate runs
def test_out_of_core_annotate_keeps_the_input_notes_as_in_memory(fake_spec, tmp_path):
    # The report out of core had no "input" entry: the features left out (and the gene key
    # hint) were warned of, but not kept, and `cm.pl.markers` read the input as X by var_names.
    pytest.importorskip("dask")
    from cellmodel.annotate import annotate, report_of
    from cellmodel.chunked.annotate import annotate_h5ad
    from cellmodel.formats import FeaturesLeftOutWarning
    from tests.test_annotate import ALPHA, BETA, DELTA, _planted, _TextEncoder

    settings = {"n_markers": 5, "top_k": 2, "n_background": 200, "model": "fake"}
    store, cands, data = _planted(fake_spec), [BETA, ALPHA, DELTA], _islets_with_peaks()
    path = tmp_path / "cells.h5ad"
    data.write_h5ad(path)
    with pytest.warns(FeaturesLeftOutWarning):
        annotate(data, store, groupby="kind", candidates=cands, load_encoder=_TextEncoder,
                 **settings)  # fmt: skip
    with pytest.warns(FeaturesLeftOutWarning):
        report = annotate_h5ad(
            path, store, output=tmp_path / "out.h5ad", groupby="kind", candidates=cands,
            load_encoder=_TextEncoder, chunk_size=40, workers=1, **settings,
        )  # fmt: skip
    expected = report_of(data)["input"]
    assert report["input"] == expected
    assert any(LEFT_OUT in note for note in report["input"]["notes"])
    import anndata as ad

    assert report_of(ad.read_h5ad(tmp_path / "out.h5ad"))["input"] == expected


def test_tfidf_lsa_on_a_few_short_texts_says_what_it_needs():
    # Was "tfidf-lsa: no vocabulary from 4 texts (After pruning, no terms remain. Try a lower
    # min_df or a higher max_df.)": settings the recipe fixes, and no way out.
    from genekb.encoders import registry

    cards = [
        "CD3E: CD3 epsilon subunit of T-cell receptor complex.\nAlso known as IMD18, T3E.\n"
        "Type: protein-coding. Location: 11q23.3.",
        "TP53: tumor protein p53.\nAlso known as BCC7, LFS1.\nType: protein-coding."
        " Location: 17p13.1.",
        "TMED7-TICAM2: TMED7-TICAM2 readthrough.\nAlso known as TICAM2, TMED7.\n"
        "Type: protein-coding. Location: 5q22.3.",
        "LOC107075310: uncharacterized gene.\nType: biological-region.",
    ]
    encoder = registry.load(registry.resolve("tfidf-lsa"), None)
    with pytest.raises(UsageError) as caught:
        encoder.fit(cards)
    line = str(caught.value)
    assert "\n" not in line and "min_df" not in line and "After pruning" not in line
    assert "these 4 genes" in line and "as few as 4 genes" in line
    assert "add genes to the source" in line and "model=" in line


@pytest.fixture
def read_only_store(fake_spec, tmp_path, monkeypatch):
    """A store built once, then as on a read-only mount: no lock file can be made there."""
    store = Store.open(tmp_path / "s", create=True)
    build(store, model="fake", gene_table=make_genes(40), tag="human")

    mount_read_only(monkeypatch)
    return tmp_path / "s"


def test_a_rebuild_of_what_a_read_only_store_holds_writes_nothing(read_only_store):
    # It was refused: the build took the tags lock to point `human` where it already pointed.
    store = Store.open(read_only_store)
    before = store.tags()
    report = build(store, model="fake", gene_table=make_genes(40), tag="human")
    assert report["embedding_id"] == before["human"] and store.tags() == before
    assert not report["text_created"] and not report["embedding_created"]
    # a build that would write (a new tag) is still refused, in one line
    with pytest.raises(ReadOnlyStore, match="read-only"):
        build(store, model="fake", gene_table=make_genes(40), tag="other")
