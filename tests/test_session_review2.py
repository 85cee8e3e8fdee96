"""Review of `bench --task annotate`, free-label reading and genekb eval: each defect found,
pinned."""

from __future__ import annotations

import pytest

from cellmodel.bench.annotate_eval.user_files import file_truth
from genekb.errors import GenekbError
from tests.test_annotate import BETA, _islets


def test_a_map_that_keys_no_label_says_to_key_it_by_the_labels() -> None:
    # the map was given: telling the user to give --label-map is no way out
    adata = _islets()
    del adata.obs["truth"]
    with pytest.raises(GenekbError, match="key the label map by the labels of obs") as err:
        file_truth(adata, "kind", label_map={"beta cells": BETA})
    assert "or --label-map" not in str(err.value)


def test_a_column_of_no_labels_says_to_choose_another_column() -> None:
    # an id column or a map cannot grade cells labelled "unknown"
    adata = _islets()
    del adata.obs["truth"]
    adata.obs["kind"] = "unknown"
    with pytest.raises(GenekbError, match="give --label-key a column of cell-type labels"):
        file_truth(adata, "kind")


def test_a_mistyped_id_on_the_first_map_line_is_refused_not_taken_as_a_header(tmp_path) -> None:
    # the line was dropped as a header: its label then read "not in the label map", the typo unsaid
    from cli.bench_annotate import read_label_map
    from genekb.errors import UsageError

    path = tmp_path / "map.csv"
    path.write_text("b,CL:000169\na,CL:0000171\n")
    label_map = read_label_map(path)
    assert label_map == {"b": "CL:000169", "a": "CL:0000171"}
    with pytest.raises(UsageError, match="CL:000169: not a CL id"):
        file_truth(_islets(), "kind", label_map=label_map)
