"""Hostile cells, thirteenth sweep: files as a newer anndata writes them (nullable strings), and
candidate lists written the way users write them into files."""

from __future__ import annotations

import anndata as ad
import pandas as pd

from tests.conftest import blobs, run_cellmodel


def test_a_file_with_nullable_strings_is_written_back(tmp_path) -> None:
    # anndata >= 0.11 writes pd.StringDtype columns when asked; such a file read fine, ran the
    # whole job, then failed writing its output: "unexpected RuntimeError: ...
    # allow_write_nullable_strings is False ...".
    cells = blobs(20, counts=True, dim=12)
    cells.obs["note"] = pd.array([f"n{i}" for i in range(cells.n_obs)], dtype="string")
    cells.obs.loc[cells.obs_names[3], "note"] = pd.NA
    cells.var["symbol"] = pd.array([f"S{i}" for i in range(cells.n_vars)], dtype="string")
    source, out = tmp_path / "cells.h5ad", tmp_path / "out.h5ad"
    with ad.settings.override(allow_write_nullable_strings=True):
        cells.write_h5ad(source)
    result = run_cellmodel(
        "classify", str(source), "--label-key", "group", "--train-fraction", "0.5",
        "--no-refine", "-o", str(out),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    back = ad.read_h5ad(out)
    assert list(back.var["symbol"]) == [f"S{i}" for i in range(cells.n_vars)]
    assert back.obs["note"].isna().sum() == 1 and back.obs["note"].iloc[0] == "n0"
    assert "cellmodel_pred" in back.obs
