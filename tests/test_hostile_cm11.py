"""Hostile but plausible options of `cellmodel cluster` / `embed` and of `cm.tl.cluster` (the
eleventh sweep): numpy's integers where Python's are expected, switches and seeds named as the
caller named them, options the run would not read refused, and each warning said once."""

from __future__ import annotations

import numpy as np
import pytest

import cellmodel as cm
from genekb.errors import UsageError
from tests.conftest import FAST_FIT, blobs


@pytest.fixture
def cells():
    return blobs(20, dim=30, counts=True)


def test_a_numpy_seed_clusters_as_a_python_one(cells, one_torch_thread):
    # torch's generator refused np.int64: "TypeError: an integer is required" after the PCA.
    twin = cells.copy()
    cm.tl.cluster(cells, n_clusters=3, use_semantic=False, seed=np.int64(3), **FAST_FIT)
    cm.tl.cluster(twin, n_clusters=3, use_semantic=False, seed=3, **FAST_FIT)
    assert (cells.obs["cellmodel_cluster"] == twin.obs["cellmodel_cluster"]).all()


@pytest.mark.parametrize(
    ("setting", "says"),
    [({"build": "no"}, "build='no' must be True or False"),  # was truthy: the store was built
     ({"control_seed": -1}, "control_seed=-1 must be a whole number"),  # was "seed=-1", or none
     ({"control_seed": 2.5}, "control_seed=2.5 must be a whole number")],
)  # fmt: skip
def test_cluster_names_a_bad_build_switch_or_control_seed(cells, setting, says):
    with pytest.raises(UsageError, match=says):
        cm.tl.cluster(cells, n_clusters=3, use_semantic=False, **setting)
    assert "cellmodel_cluster" not in cells.obs
