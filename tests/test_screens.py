"""The settings the classify and clustering screens share (cellmodel.bench.screens)."""

from __future__ import annotations

import numpy as np
import pytest

from cellmodel import classify, datasets
from cellmodel.bench.screens import CLASSIFY_SPLITS, parse_value


@pytest.mark.parametrize(
    ("text", "value"),
    [("None", None), ("TRUE", True), ("false", False), ("7", 7), ("0.5", 0.5), ("1e-3", 1e-3),
     ("mass", "mass"), ("", "")],
)  # fmt: skip
def test_parse_value_reads_each_kind(text: str, value: object) -> None:
    parsed = parse_value(text)
    assert parsed == value and type(parsed) is type(value)


def test_classify_splits_name_registry_datasets_and_split_labels() -> None:
    assert set(CLASSIFY_SPLITS) <= {d.name for d in datasets.list_datasets()}
    labels = np.array(["a"] * 40 + ["b"] * 20 + ["c"] * 3)
    for setting in CLASSIFY_SPLITS.values():
        mask = classify.split(labels, seed=0, **setting)
        assert 0 < mask.sum() < len(labels)  # some cells train, some are held out
        assert all((~mask)[labels == c].any() for c in "abc")
