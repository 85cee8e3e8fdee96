"""What docs/cellmodel.md says a user gets, checked where the code fell short of it (round 2 of
reading the pages as a new user)."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np

from cellmodel.classify import read_labels


def test_read_labels_assigned_to_obs_lines_up_by_cell_name(tmp_path):
    # docs/cellmodel.md: `read_labels` does in Python what `classify --labels` does: the labels
    # become an obs column. Assigned as pandas assigns (by index), every cell stayed unlabelled.
    cells = ad.AnnData(np.ones((4, 2), dtype=np.float32))
    cells.obs_names = ["c1", "c2", "c3", "c4"]
    path = tmp_path / "labels.csv"
    path.write_text("cell,cell_type\nc3,B\nc1,T\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the two cells the file leaves out are warned of
        labels = read_labels(path, cells.obs_names)
    cells.obs[labels.name] = labels
    assert cells.obs["cell_type"].tolist() == ["T", None, "B", None]
    assert list(labels.index) == ["c1", "c2", "c3", "c4"]
