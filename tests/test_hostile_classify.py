"""Hostile input to few-label classification and label transfer (`cellmodel classify`,
`cm.tl.classify`): what a user brings, from partly labelled files to another species' genes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import blobs, run_cellmodel

QUIET = ("--no-refine", "--markers", "0")


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A labelled file, and the same cells where only a third are labelled (the `train` column
    says which): the rest are the cells to predict."""
    folder = tmp_path_factory.mktemp("hostile_classify")
    cells = blobs(20, dim=30, counts=True)
    paths = {name: folder / f"{name}.h5ad" for name in ("cells", "partial")}
    cells.write_h5ad(paths["cells"])
    part = cells.copy()
    train = np.arange(part.n_obs) % 3 == 0
    part.obs["train"] = train
    part.obs["group"] = pd.Categorical(part.obs["group"].astype(object).where(train))
    part.write_h5ad(paths["partial"])
    return paths


def test_the_json_keeps_its_keys_when_nothing_is_scored(files):
    # Predicting the unlabelled cells of a file scores none of them: "accuracy", "macro_f1" and
    # "scores" vanished from the JSON (an .h5ad's uns keeps no None), so `doc["accuracy"]` failed.
    scored = run_cellmodel("classify", str(files["cells"]), "--label-key", "group",
                           "--per-class", "5", *QUIET, "--json")  # fmt: skip
    unscored = run_cellmodel("classify", str(files["partial"]), "--label-key", "group",
                             "--train-mask", "train", *QUIET, "--json")  # fmt: skip
    assert scored.exit_code == 0 and unscored.exit_code == 0, unscored.output
    full, empty = json.loads(scored.stdout), json.loads(unscored.stdout)
    assert set(empty) == set(full)
    assert empty["accuracy"] is None and empty["macro_f1"] is None and empty["scores"] is None
    assert empty["n_scored"] == 0 and set(empty["params"]) == set(full["params"])

