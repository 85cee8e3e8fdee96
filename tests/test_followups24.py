"""Follow-ups: groups whose names differ only in case or spaces are warned of (as classify's
classes are), a missing group gets command-line advice on the command line, and a sample type
given as the tissue reads as its tissue."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from cellmodel.markers import LookalikeGroupsWarning, cell_groups
from genekb.errors import GenekbError


def test_groups_differing_only_in_case_or_spaces_are_warned_of():
    column = pd.Series(["B cell", "B cell ", "T cell", "T cell", "B cell", "t cell"] * 3)
    with pytest.warns(LookalikeGroupsWarning) as caught:
        groups = cell_groups(column, "cell_type")
    message = str(caught[0].message)
    assert "'B cell', 'B cell '" in message and "(and 1 more such set(s))" in message
    assert len(groups.categories) == 4  # kept apart, as written


def test_names_with_other_words_are_not_warned_of():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cell_groups(pd.Series(["CD4 T", "CD8 T", "NK"] * 4), "g")


def test_numbers_and_their_text_are_still_refused():
    with pytest.raises(GenekbError, match="make the column one kind"):
        cell_groups(pd.Series([1, "1", 2, 2] * 3, dtype=object), "g")


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


def test_a_sample_type_as_tissue_reads_as_its_cells_subtree():
    from cellmodel.annotate.params import setup
    from genekb.errors import UsageError

    _, leukocytes = setup("g", None, "CL:0000738", None)
    for word in ("PBMC", " pbmcs ", "Peripheral blood mononuclear cells"):
        _, cands = setup("g", None, None, word)  # was refused: 'leaves 1 term(s); widen it'
        assert (cands.tissue, cands.ontology_subtree) == (None, "CL:0000738")
        assert [c.cl_id for c in cands.terms] == [c.cl_id for c in leukocytes.terms]
    ids = {c.cl_id for c in setup("g", None, None, "PBMC")[1].terms}
    assert {"CL:0000236", "CL:0000084", "CL:0000576"} <= ids  # B, T cells and monocytes
    for word in ("BMMC", "blood", "Peripheral Blood"):  # "blood" had left out B and T cells
        assert setup("g", None, None, word)[1].ontology_subtree == "CL:0000988"
    with pytest.raises(UsageError, match="is a sample type"):
        setup("g", None, "T cell", "PBMC")


def test_a_failed_plot_never_costs_the_runs_output(tmp_path):
    import anndata as ad
    import numpy as np

    from cli.cellmodel_args import plots_then_output

    adata = ad.AnnData(np.ones((3, 2), dtype=np.float32))
    out = tmp_path / "out.h5ad"

    def broken() -> list:
        raise RuntimeError("the plot library failed")

    with pytest.raises(RuntimeError, match="plot library"):
        plots_then_output(broken, adata, out)
    assert ad.read_h5ad(out).shape == (3, 2)  # written before the failure was raised
    assert plots_then_output(lambda: ["a.png"], adata, tmp_path / "two.h5ad") == ["a.png"]
    assert (tmp_path / "two.h5ad").exists()


def test_normalize_never_replaces_other_counts_in_the_counts_layer():
    import anndata as ad
    import numpy as np

    import cellmodel as cm
    from genekb.errors import UsageError

    rng = np.random.default_rng(0)
    x = rng.poisson(3, size=(20, 30)).astype(np.float32)
    adata = ad.AnnData(x.copy())
    adata.layers["counts"] = x * 2  # the user's own, other counts
    with pytest.raises(UsageError, match="layers\\['counts'\\] holds other values"):
        cm.pp.normalize(adata)
    assert np.array_equal(adata.layers["counts"], x * 2) and np.array_equal(adata.X, x)
    same = ad.AnnData(x.copy())
    same.layers["counts"] = x.copy()  # the same counts: normalised as before
    cm.pp.normalize(same)
    assert np.array_equal(same.layers["counts"], x) and same.X.max() < 10


def test_train_on_labelled_without_an_output_is_refused_before_the_run(tmp_path):
    from tests.conftest import blobs, one_line_error, run_cellmodel

    cells = blobs(10, dim=20, counts=True)
    cells.obs["group"] = cells.obs["group"].astype(object).where(np.arange(cells.n_obs) % 2 == 0)
    path = tmp_path / "partial.h5ad"
    cells.write_h5ad(path)
    args = ["classify", str(path), "--label-key", "group", "--train-on-labelled", "--no-refine"]
    line = one_line_error(run_cellmodel(*args), 2)  # ran the whole job, then 'not kept'
    assert line.endswith("give -o OUT.h5ad to keep the predictions")
