"""Group and class names that differ only in spaces at their ends are a typing slip: refused in
one line that says so, rather than named or trained as two groups."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cellmodel.classify.labels import label_array
from cellmodel.markers import cell_groups
from genekb.errors import GenekbError


def test_groups_differing_only_in_end_spaces_are_refused():
    column = pd.Series(["B cell", "B cell ", "T cell", "T cell", "B cell", " T cell"] * 3)
    with pytest.raises(GenekbError) as err:
        cell_groups(column, "cell_type")
    message = str(err.value)
    assert "'B cell' and 'B cell '" in message
    assert "differ only in spaces at their ends" in message and "\n" not in message


def test_labels_differing_only_in_end_spaces_are_refused():
    with pytest.raises(GenekbError, match="differ only in spaces at their ends"):
        label_array(np.array(["NK", "NK ", None, "B"], dtype=object))


def test_numbers_and_their_text_keep_their_own_advice():
    with pytest.raises(GenekbError, match="make the column one kind"):
        cell_groups(pd.Series([1, "1", 2, 2] * 3, dtype=object), "g")


def test_names_with_inner_spaces_stay_distinct_groups():
    groups = cell_groups(pd.Series(["CD4 T", "CD4  T", "NK"] * 4), "g")
    assert list(groups.categories) == ["CD4  T", "CD4 T", "NK"]


def test_missing_groups_get_command_line_advice_on_the_command_line():
    from cli.flags import as_flags

    column = pd.Series(["a", None, "b", "b", "a", "a"], dtype=object)
    with pytest.raises(GenekbError) as err:
        cell_groups(column, "grp")
    library = str(err.value)
    assert "adata[adata.obs['grp'].notna()]" in library  # a notebook user gets the subset
    line = as_flags(library)
    assert "adata" not in line and "pass the others only" not in line
    assert line.endswith("fill them in (e.g. 'unlabelled') in the file, or write a file of the"
                         " others only")


def test_a_sample_type_as_tissue_reads_as_its_tissue():
    from cellmodel.annotate.params import setup

    _, blood = setup("g", None, None, "blood")
    for word in ("PBMC", " pbmcs ", "Cord blood"):
        _, cands = setup("g", None, None, word)  # was refused: 'leaves 1 term(s); widen it'
        assert cands.tissue == "blood"
        assert [c.cl_id for c in cands.terms] == [c.cl_id for c in blood.terms]
