"""annotate out of core: per-group marker sums gathered chunk by chunk name the groups exactly as
the in-memory run does."""

from __future__ import annotations

import numpy as np
import pytest

from cellmodel.annotate import annotate, report_of
from tests.test_annotate import ALPHA, BETA, DELTA, _islets, _planted, _TextEncoder

pytest.importorskip("dask")

SETTINGS = {"n_markers": 5, "top_k": 2, "n_background": 200, "model": "fake"}


def test_chunked_annotate_equals_in_memory(fake_spec, tmp_path) -> None:
    from cellmodel.chunked.annotate import annotate_h5ad

    store = _planted(fake_spec)
    cands = [BETA, ALPHA, DELTA]
    data = _islets()
    path = tmp_path / "islets.h5ad"
    data.write_h5ad(path)
    expected = report_of(
        annotate(data, store, groupby="kind", candidates=cands, load_encoder=_TextEncoder,
                 **SETTINGS)
    )  # fmt: skip
    out = tmp_path / "out.h5ad"
    report = annotate_h5ad(
        path, store, output=out, groupby="kind", candidates=cands, load_encoder=_TextEncoder,
        chunk_size=7, workers=2, **SETTINGS,
    )  # fmt: skip
    assert report["chunked"]["n_chunks"] == 13  # 90 cells, 7 a chunk: the last one short
    for got, want in zip(report["groups"], expected["groups"], strict=True):
        assert got["label"] == want["label"] and got["markers"] == want["markers"]
        assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert [e["gene"] for e in got["evidence"]] == [e["gene"] for e in want["evidence"]]
    import anndata as ad

    result = ad.read_h5ad(out)
    assert np.array_equal(
        result.obs["cellmodel_annotation"].astype(str), data.obs["cellmodel_annotation"].astype(str)
    )
    assert report_of(result)["groups"][0]["label"] == expected["groups"][0]["label"]
    assert (result.X == data.X).all()  # the input travels unchanged


def test_cli_chunked_annotate_checks_its_options(tmp_path) -> None:
    from tests.conftest import one_line_error, run_cellmodel

    path = tmp_path / "islets.h5ad"
    _islets().write_h5ad(path)
    line = one_line_error(run_cellmodel("annotate", str(path), "--chunk-size", "10"), code=2)
    assert "-o" in line
    line = one_line_error(run_cellmodel("annotate", str(path), "--workers", "2"), code=2)
    assert "--chunk-size" in line
