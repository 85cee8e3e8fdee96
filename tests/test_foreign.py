"""Foreign gene vectors: safe pickle reading, every format, the mapping report, and an imported
GenePT-style version used end to end by `similar`, `verify` and `eval`."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genekb.errors import GenekbError
from genekb.eval.tasks import resolve_task
from genekb.store.safe_pickle import safe_load_pickle
from genekb.store.store import Store
from genekb.store.vector_files import read_vectors
from tests.conftest import one_line_error as _one_line_error
from tests.conftest import run_genekb as run

DIM = 32


def _tf_vectors() -> tuple[list[str], np.ndarray]:
    """The 490 real TF symbols of the bundled task; noise plus a shift for the sensitive ones,
    so a probe can find the label only if every vector lands on its own gene."""
    task = resolve_task("dosage-tfs")
    rng = np.random.default_rng(7)
    positive = np.array([lab == "sensitive" for lab in task.labels])
    vectors = rng.standard_normal((len(task.genes), DIM)).astype(np.float32)
    vectors[positive, 0] += 2.5
    return list(task.genes), vectors


def _genept_pickle(path: Path, names: list[str], vectors: np.ndarray) -> Path:
    """GenePT's layout: a dict of symbol -> list of floats."""
    data = {n: [float(x) for x in v] for n, v in zip(names, vectors, strict=True)}
    data["NOT_A_REAL_GENE_1"] = [0.0] * DIM
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "vectors.pkl"
    bad.write_bytes(pickle.dumps({"TP53": _Exploit(marker)}))
    with pytest.raises(GenekbError, match=r"posix.system.*refused"):
        safe_load_pickle(bad)
    assert not marker.exists()
    result = run("import-vectors", str(bad), "--model", "evil", "--root", str(tmp_path / "s"))
    assert "refused" in _one_line_error(result, 1)
    assert not marker.exists()
    assert not (tmp_path / "s" / "embeddings").exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_safe_unpickler_reads_numpy_arrays(tmp_path, protocol):
    data = {"TP53": np.arange(4, dtype=np.float64), "BRCA1": np.ones(4, dtype=np.float32)}
    path = tmp_path / "v.pkl"
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    names, matrix, fmt = read_vectors(path)
    assert names == ["TP53", "BRCA1"] and fmt == "pickle"
    np.testing.assert_array_equal(matrix[0], [0, 1, 2, 3])


def test_every_format_reads_the_same_vectors(tmp_path):
    names = ["TP53", "BRCA1", "EGFR"]
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    frame = pd.DataFrame(vectors, columns=[f"d{i}" for i in range(4)]).assign(gene=names)
    frame = frame[["gene", *[f"d{i}" for i in range(4)]]]
    frame.to_csv(tmp_path / "v.csv", index=False)
    frame.to_csv(tmp_path / "v.tsv", sep="\t", index=False)
    frame.to_parquet(tmp_path / "v.parquet")
    pd.DataFrame({"symbol": names, "embedding": list(vectors)}).to_parquet(tmp_path / "l.parquet")
    np.savez(tmp_path / "v.npz", genes=np.array(names), vectors=vectors)
    for file in ("v.csv", "v.tsv", "v.parquet", "l.parquet", "v.npz"):
        got_names, got, _ = read_vectors(tmp_path / file)
        assert got_names == names, file
        np.testing.assert_array_equal(got, vectors, err_msg=file)


def test_bad_vector_files_fail_with_one_clear_line(tmp_path):
    (tmp_path / "nan.csv").write_text("gene,a,b\nTP53,1,nan\nEGFR,1,2\n")
    with pytest.raises(GenekbError, match="NaN or infinite"):
        read_vectors(tmp_path / "nan.csv")
    (tmp_path / "zero.csv").write_text("gene,a,b\nTP53,0,0\nKRAS,1e-320,0\n")
    with pytest.raises(GenekbError, match="every vector is all zeros in float32"):
        read_vectors(tmp_path / "zero.csv")
    (tmp_path / "unnamed.pkl").write_bytes(pickle.dumps({"TP53": [1.0, 2.0], " ": [1.0, 3.0]}))
    with pytest.raises(GenekbError, match="1 genes have an empty name"):
        read_vectors(tmp_path / "unnamed.pkl")
    (tmp_path / "ragged.pkl").write_bytes(pickle.dumps({"TP53": [1.0, 2.0], "EGFR": [1.0]}))
    with pytest.raises(GenekbError, match="different lengths"):
        read_vectors(tmp_path / "ragged.pkl")
    np.savez(tmp_path / "obj.npz", genes=np.array(["TP53"], dtype=object), vectors=np.ones((1, 2)))
    with pytest.raises(GenekbError, match="object arrays"):
        read_vectors(tmp_path / "obj.npz")
    (tmp_path / "v.bin").write_bytes(b"\0")
    line = _one_line_error(
        run("import-vectors", str(tmp_path / "v.bin"), "-m", "x", "--root", str(tmp_path / "s")), 2
    )
    assert "--format" in line
    (tmp_path / "none.pkl").write_bytes(pickle.dumps({"NOPE1": [1.0], "NOPE2": [2.0]}))
    line = _one_line_error(
        run("import-vectors", str(tmp_path / "none.pkl"), "-m", "x", "--root", str(tmp_path / "s")),
        1,
    )
    assert "matches" in line


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("foreign")
    names, vectors = _tf_vectors()
    names = list(names)
    names[0] = resolve_task("dosage-tfs").alt_ids[0]  # one gene given by its Ensembl id
    path = _genept_pickle(tmp / "genept_like.pickle", names, vectors)
    result = run(
        "import-vectors", str(path), "--model", "genept-like", "--text", "NCBI summaries",
        "--root", str(tmp / "store"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return tmp, json.loads(result.stdout), path, vectors


def test_import_is_a_first_class_version_with_provenance(imported):
    tmp, report, path, vectors = imported
    mapping = report["mapping"]
    n_keys = len(set(resolve_task("dosage-tfs").genes)) + 1  # two TF symbols repeat in the task
    assert mapping["names"] == n_keys and "NOT_A_REAL_GENE_1" in mapping["unmatched_examples"]
    assert mapping["by_route"]["ensembl"] >= 1 and mapping["by_route"]["symbol"] > 450
    assert mapping["matched"] + mapping["unmatched"] + mapping["duplicates"] == n_keys
    assert mapping["zero_vectors"] == 1 and mapping["zero_vector_examples"] == ["NOT_A_REAL_GENE_1"]
    store = Store.open(tmp / "store")
    version = store.embedding("human/imported/genept-like")
    assert version.id == report["embedding_id"]
    assert version.spec.backend == "imported" and version.dim == DIM
    provenance = version.manifest["import"]
    assert provenance["declared_text"] == "NCBI summaries"
    assert provenance["file_sha256"] == report["file_sha256"] == version.spec.weights_sha256
    assert all(r["ok"] for r in store.verify([version.id])), store.verify([version.id])
    task = resolve_task("dosage-tfs")
    got, found = version.vectors([task.genes[5]])
    assert found.all()
    np.testing.assert_allclose(got[0], vectors[5], rtol=1e-6)
    again = run("import-vectors", str(path), "-m", "genept-like", "--root", str(tmp / "store"))
    assert again.exit_code == 0 and "already present" in again.stderr


def test_imported_version_answers_similar(imported):
    tmp, report, _, _ = imported
    result = run(
        "similar", "TP53", "--ref", report["tag"], "--root", str(tmp / "store"), "--json"
    )  # TP53 is not a TF of the task: a clear error, not a traceback
    assert "not in embedding" in _one_line_error(result, 1)
    gene = resolve_task("dosage-tfs").genes[3]
    result = run("similar", gene, "--ref", report["tag"], "--root", str(tmp / "store"), "--json")
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert len(hits) == 10 and all(h["symbol"] != gene for h in hits)


def test_imported_version_is_evaluated_against_controls(imported):
    tmp, report, _, _ = imported
    result = run(
        "eval", report["tag"], "--task", "dosage-tfs", "--seeds", "1",
        "--root", str(tmp / "store"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert row["coverage"]["found"] > 480  # a few 2019 symbols are not in the 2022 snapshot
    scores = row["scores"]
    # The planted shift is found only if each vector sits on its own gene.
    assert scores["vectors"]["mean"] > 0.85
    assert 0.35 < scores["shuffled"]["mean"] < 0.65
    assert 0.35 < scores["random"]["mean"] < 0.65
    assert "bag-of-words" in scores


def test_cellmodel_clusters_with_an_imported_version(imported, tmp_path):
    """`cellmodel cluster --model TAG` takes its gene vectors from the imported version."""
    import anndata as ad

    from tests.conftest import blobs, run_cellmodel

    tmp, report, _, _ = imported
    adata = blobs(40, dim=60, counts=True)
    symbols = list(dict.fromkeys(resolve_task("dosage-tfs").genes))[1:61]
    adata.var_names = symbols  # real TF symbols, all in the imported version
    adata.write_h5ad(tmp_path / "cells.h5ad")
    out = tmp_path / "out.h5ad"
    result = run_cellmodel(
        "cluster", str(tmp_path / "cells.h5ad"), "--model", report["tag"],
        "--root", str(tmp / "store"), "-k", "3", "-o", str(out), "--json",
        "--option", "pretrain_steps=60", "--option", "min_pretrain_steps=20",
        "--option", "cluster_steps=20",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    written = ad.read_h5ad(out)
    record = written.uns["cellmodel"]
    assert record["embedding_id"] == report["embedding_id"]
    assert record["gene_match"]["match_rate"] > 0.9
    assert "X_semantic" in written.obsm


def test_a_zero_vector_never_stands_for_its_gene():
    from genekb.sources import load_source
    from genekb.store.foreign import map_genes

    genes = load_source("bundled", "human")
    mapping, report = map_genes(["TP53", "TP53", "EGFR"], genes, np.array([False, True, False]))
    assert mapping["kept"].tolist() == [False, True, False]  # the zero rows stand for nothing
    assert report["matched"] == 1 and report["zero_vectors"] == 2
