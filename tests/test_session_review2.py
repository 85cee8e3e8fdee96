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


def test_common_genes_too_few_says_the_versions_share_too_few_not_that_this_one_lacks_them(
    tmp_path,
) -> None:
    # two imports holding 30 task genes each, 15 of them shared: each was told "only 15 of 60
    # task genes are in this version; import vectors of more", though it holds 30
    import pandas as pd

    from genekb.build import build
    from genekb.eval import evaluate
    from genekb.store.foreign import import_vectors
    from genekb.store.store import Store
    from tests.conftest import make_genes

    store = Store.open(tmp_path / "store", create=True)
    build(store, model="fake", gene_table=make_genes(60))
    ids, matrix = store.embedding("human/ncbi-card/fake").matrix()
    tags = []
    for name, rows in (("first", slice(0, 30)), ("second", slice(15, 45))):
        frame = pd.DataFrame(matrix[rows], columns=[f"d{i}" for i in range(matrix.shape[1])])
        frame.insert(0, "gene", [f"GENE{int(i)}" for i in ids[rows]])
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
        import_vectors(store, tmp_path / f"{name}.csv", model=name, gene_table=make_genes(60))
        tags.append(f"human/imported/{name}")
    task = tmp_path / "task.csv"
    genes = [f"GENE{i}" for i in range(1, 61)]
    pd.DataFrame({"gene": genes, "label": ["a", "b"] * 30}).to_csv(task, index=False)
    versions = [store.embedding(t) for t in tags]
    with pytest.raises(GenekbError) as err:
        evaluate(versions, [task], seeds=1, feature_sets=["vectors"], leakage=False,
                 common_genes=True)  # fmt: skip
    said = str(err.value)
    assert "15 of 60 task genes are held by every version compared (this one holds 30;" in said
    assert "without --common-genes" in said and "import vectors of more" not in said


def test_a_pickled_bare_matrix_is_refused_as_no_dict_not_a_crash(tmp_path) -> None:
    # the torch check compared the unpickled object with an int: an array made that ambiguous
    import pickle

    import numpy as np

    from genekb.store.vector_files import load_vectors

    path = tmp_path / "matrix.pkl"
    path.write_bytes(pickle.dumps(np.zeros((3, 4), dtype=np.float32)))
    with pytest.raises(GenekbError, match="expected a dict of gene name -> vector, found ndarray"):
        load_vectors(path)


def test_cells_without_an_id_in_the_ontology_key_are_not_graded_not_a_refusal() -> None:
    # one blank id refused the whole file ("nan: not a CL id") with no way out but editing it
    import numpy as np

    from tests.test_annotate import ALPHA

    adata = _islets()
    ids = adata.obs["truth"].astype(object)
    ids[adata.obs["kind"].to_numpy() == "b"] = np.nan  # group b: no id at all
    ids.iloc[np.flatnonzero(adata.obs["kind"].to_numpy() == "a")[:3]] = "NA"  # a: a few
    adata.obs["ids"] = ids
    _, truth, how = file_truth(adata, "kind", ontology_key="ids")
    assert truth["a"] == ALPHA and "b" not in truth
    assert how["unscored"]["b"] == "no CL id in obs['ids']"
    adata.obs.loc[adata.obs_names[0], "ids"] = "CL:9999999"  # a wrong id is still refused
    with pytest.raises(GenekbError, match="CL:9999999: no term of this release"):
        file_truth(adata, "kind", ontology_key="ids")
    adata.obs["ids"] = np.nan  # no id at all: the way out is to fill them in, not the flag given
    with pytest.raises(GenekbError, match="fill in the groups' CL ids"):
        file_truth(adata, "kind", ontology_key="ids")


def test_bench_annotate_refuses_a_timeout_it_cannot_apply() -> None:
    # --timeout bounds each clustering worker; the annotate task runs none and ignored it unsaid
    from tests.conftest import one_line_error, run_cellmodel

    # (synthetic data: refused at once, for another reason, where --timeout is not checked)
    result = run_cellmodel("bench", "--task", "annotate", "--datasets", "synthetic-300",
                           "--timeout", "60")  # fmt: skip
    assert "--timeout" in one_line_error(result, code=2)
