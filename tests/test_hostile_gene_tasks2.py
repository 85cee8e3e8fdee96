"""Hostile round on the gene side (h32): an ML engineer's own task files and vectors against
`genekb eval`, `genekb import-vectors`, `genekb build` and `genekb export/import`."""

from __future__ import annotations

import io
import re
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from genekb.build import build
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.eval import evaluate
from genekb.eval.tasks import read_task_file
from genekb.records import GeneTable
from genekb.store.foreign import import_vectors
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from genekb.store.vector_files import load_vectors
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run

N = 40
TAG = "human/ncbi-card/fake"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h32")
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(N))
    return root


def _vectors_csv(path: Path, names: list[str], dim: int = 4, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        rng.standard_normal((len(names), dim)), columns=[f"d{i}" for i in range(dim)]
    )
    frame.insert(0, "gene", names)
    frame.to_csv(path, index=False)
    return path


# ---- eval: a score written as rounded numbers ------------------------------------------------


@pytest.mark.parametrize("digits", [1, 2])
def test_a_rounded_score_is_refused_as_a_score_not_scored_as_classes(tmp_path, digits):
    # 2,000 genes labelled round(uniform, 1) were scored as 11 classes by macro-F1 (0.095), and
    # round(.., 2) as 101 classes (0.004): each value had 5 genes or more, so nothing was said.
    rng = np.random.default_rng(0)
    labels = np.round(rng.uniform(size=2000), digits)
    task = tmp_path / "score.csv"
    pd.DataFrame({"gene": [f"G{i}" for i in range(2000)], "label": labels}).to_csv(
        task, index=False
    )
    with pytest.raises(GenekbError, match="a score rather than classes"):
        read_task_file(task)


def test_numeric_classes_stay_classes(tmp_path):
    # 0/1, 1.0/0.0 and 1/2/3 are classes, not a score
    for labels in (["0", "1"], ["0.0", "1.0"], ["1", "2", "3"], ["0.5", "1.5"]):
        task = tmp_path / "t.csv"
        rows = "".join(f"G{i},{labels[i % len(labels)]}\n" for i in range(30))
        task.write_text("gene,label\n" + rows)
        assert len(set(read_task_file(task).labels)) == len(labels)


# ---- eval: one version named twice -----------------------------------------------------------


def test_one_version_named_twice_is_refused(store_root):
    # A tag and its id (or one ref twice) were scored twice, every fit run again, two rows alike;
    # a task given twice was already refused.
    store = Store.open(store_root)
    version = store.embedding(TAG)
    task = pd.DataFrame({"gene": [f"GENE{i}" for i in range(1, N + 1)], "label": ["a", "b"] * 20})
    with pytest.raises(UsageError, match=f"version {version.id} is given twice"):
        evaluate([version, store.embedding(version.id)], [task], seeds=1, feature_sets="vectors")
    line = one_line_error(
        run("eval", TAG, version.id[:10], "-t", "dosage-tfs", "--root", str(store_root)), 2
    )
    assert "given twice" in line


# ---- import-vectors --------------------------------------------------------------------------


def test_one_name_with_two_different_vectors_is_refused(tmp_path):
    # The first row was kept without a word ("3 names reach a gene already matched"), so which
    # vector the version held depended on the row order.
    names = [f"GENE{i}" for i in range(1, 11)]
    path = _vectors_csv(tmp_path / "v.csv", [*names, "GENE3"])
    with pytest.raises(GenekbError, match=r"1 gene name\(s\) are given more than once with diff"):
        load_vectors(path)


def test_one_name_with_the_same_vector_twice_is_a_repeat(tmp_path):
    names = [f"GENE{i}" for i in range(1, 11)]
    path = _vectors_csv(tmp_path / "v.csv", names)
    frame = pd.read_csv(path)
    pd.concat([frame, frame.iloc[[2]]]).to_csv(path, index=False)
    assert load_vectors(path).names.count("GENE3") == 2


def test_an_empty_vector_file_says_it_is_empty(tmp_path):
    # Said "is not a readable csv table (EmptyDataError)".
    path = tmp_path / "v.csv"
    path.write_bytes(b"")
    with pytest.raises(GenekbError, match=re.escape(f"{path} is empty; give a file of gene")):
        load_vectors(path)


def test_npz_names_saved_as_objects_say_how_to_save_them(tmp_path):
    # np.savez(genes=np.array(series)) holds an object array: refused with no way forward.
    path = tmp_path / "v.npz"
    np.savez(path, genes=np.array(["TP53", "EGFR"], dtype=object), vectors=np.ones((2, 3)))
    with pytest.raises(GenekbError, match=r"np\.asarray\(names, dtype=str\)"):
        load_vectors(path)


def _capitalised(table: GeneTable) -> GeneTable:
    """The genes with mouse-style symbols (Gene1), as a mouse source writes them."""
    symbols = [s.capitalize() for s in table.table.column("symbol").to_pylist()]
    index = table.table.schema.get_field_index("symbol")
    return GeneTable(table.table.set_column(index, "symbol", pa.array(symbols)), table.snapshot)


@pytest.mark.parametrize(
    ("names", "genes", "taxon", "says"),
    [
        ([f"Gene{i}" for i in range(1, N + 1)], make_genes(N), "human", "written as mouse"),
        ([f"GENE{i}" for i in range(1, N + 1)], _capitalised(make_genes(N, 10090)), "mouse",
         "written as human"),
    ],
)  # fmt: skip
def test_names_of_the_other_species_are_said_to_be(tmp_path, names, genes, taxon, says):
    # Human symbols imported with --taxon mouse matched Cd3e for CD3E case-blind ("164 of 200
    # genes matched"), and mouse ones into human: another species' vectors, not a word.
    from genekb.store.foreign import OtherSpeciesNamesWarning

    path = _vectors_csv(tmp_path / "v.csv", names)
    store = Store.open(tmp_path / "s", create=True)
    with pytest.warns(OtherSpeciesNamesWarning, match=f"{N} matched names are {says} symbols"):
        report = import_vectors(store, path, model="m", taxon=taxon, gene_table=genes)
    assert report["mapping"]["other_species_style"] == N


def test_names_of_the_versions_own_style_say_nothing(tmp_path):
    from genekb.store.foreign import OtherSpeciesNamesWarning

    path = _vectors_csv(tmp_path / "v.csv", [f"GENE{i}" for i in range(1, N + 1)])
    store = Store.open(tmp_path / "s", create=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", OtherSpeciesNamesWarning)
        report = import_vectors(store, path, model="m", gene_table=make_genes(N))
    assert report["mapping"]["other_species_style"] == 0


# ---- build: options that do nothing where they are given -------------------------------------


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--workers", "3"], "--workers) is for engine='ray'"),
        (["--gene-key", "symbol"], "--gene-key names a column of the --genes-from file"),
    ],
)
def test_build_options_that_would_be_ignored_are_refused(tmp_path, extra, says):
    # --workers on the local engine and --gene-key without --genes-from were ignored: the build
    # ran one local encoder, or took every gene of the source.
    genes = tmp_path / "genes.txt"
    genes.write_text("CD3E\n")
    result = run(
        "build", "--model", "fake", "--genes", str(genes), *extra, "--root", str(tmp_path / "s")
    )
    assert says in one_line_error(result, 2)
    assert not (tmp_path / "s").exists()


def test_build_library_refuses_workers_on_the_local_engine(tmp_path):
    with pytest.raises(UsageError, match="engine='ray'"):
        build(Store.open(tmp_path, create=True), model="fake", gene_table=make_genes(5),
              num_workers=2)  # fmt: skip


# ---- import of a tampered export -------------------------------------------------------------


def test_a_tampered_export_names_its_member_not_a_staging_path(store_root, tmp_path):
    # Said "(…/.staging/15704-import-…/texts/txt-…/genes.parquet: sha256 does not match …)",
    # a folder removed when the import fails, in place of the member of the file.
    export = tmp_path / "x.tar"
    export_version(Store.open(store_root), TAG, export)
    tampered = tmp_path / "tampered.tar"
    with tarfile.open(export) as src, tarfile.open(tampered, "w") as out:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if member.name.endswith("genes.parquet"):
                data = bytearray(data)
                data[len(data) // 2] ^= 0xFF
            out.addfile(member, io.BytesIO(bytes(data)) if data is not None else None)
    target = Store.open(tmp_path / "target", create=True)
    with pytest.raises(IntegrityError) as caught:
        import_file(target, tampered)
    message = str(caught.value)
    assert ".staging" not in message
    assert re.search(r"\(texts/txt-[0-9a-f]+/genes\.parquet: sha256 does not match", message)


@pytest.mark.parametrize(("gene", "other"), [("gene", "entrez_id"), ("symbol", "gene_id")])
def test_a_second_gene_id_column_is_no_dimension(tmp_path, gene, other):
    # gene, entrez_id, d0…d7 imported as dim 9: the Entrez id (up to 10^8) became a dimension
    # that swamps every cosine.
    names = [f"GENE{i}" for i in range(1, 11)]
    path = _vectors_csv(tmp_path / "v.csv", names)
    frame = pd.read_csv(path).rename(columns={"gene": gene})
    frame.insert(1, other, range(1, 11))
    frame.to_csv(path, index=False)
    with pytest.raises(GenekbError, match=re.escape(f"column(s) ['{other}'] name genes too")):
        load_vectors(path)


# ---- gk.eval: a task as a notebook holds it ---------------------------------------------------


def _labels() -> pd.Series:
    genes = [f"GENE{i}" for i in range(1, N + 1)]
    return pd.Series(["a", "b"] * (N // 2), index=pd.Index(genes, name="gene"), name="label")


@pytest.mark.parametrize("as_given", [_labels, lambda: dict(_labels())])
def test_a_series_or_dict_of_gene_to_label_is_one_task(store_root, as_given):
    # A Series was iterated as a list of task names: "unknown task (or CSV/TSV file) 'a'".
    version = Store.open(store_root).embedding(TAG)
    document = evaluate([version], as_given(), seeds=1, feature_sets="vectors")
    assert document["results"][0]["coverage"]["found"] == N


def test_a_series_without_genes_and_an_array_are_refused(store_root):
    version = Store.open(store_root).embedding(TAG)
    with pytest.raises(UsageError, match="needs the genes as its index"):  # df["label"]
        evaluate([version], _labels().reset_index(drop=True), seeds=1, feature_sets="vectors")
    with pytest.raises(UsageError, match="not ndarray"):  # was read as rows: "unknown task"
        evaluate([version], [np.array([["GENE1", "a"]])], seeds=1, feature_sets="vectors")


def test_a_table_without_genes_says_to_fill_in_the_genes():
    # Said "fill in 'label'" of a table whose labels were all there and genes all empty.
    from genekb.eval.tasks import task_from_table

    frame = pd.DataFrame({"gene": [None] * 10, "label": ["a", "b"] * 5})
    with pytest.raises(GenekbError, match="fill in 'gene'"):
        task_from_table(frame)


# ---- gk.build: a gene list from a pandas column ----------------------------------------------


def test_a_missing_name_in_a_gene_list_takes_no_gene(tmp_path):
    # ["GENE1", NaN] built 2 genes: str(NaN) is "nan", and a gene whose alias is NaN (SCN11A in
    # the bundled source) was built though nobody named it.
    genes = make_genes(N)
    index = genes.table.schema.get_field_index("aliases")
    aliases = [
        ["NAN"] if i == 2 else a for i, a in enumerate(genes.table.column("aliases").to_pylist(), 1)
    ]
    genes = GeneTable(genes.table.set_column(index, "aliases", pa.array(aliases)), genes.snapshot)
    store = Store.open(tmp_path, create=True)
    report = build(store, model="fake", gene_table=genes, genes=["GENE1", float("nan"), None])
    assert report["n_genes"] == 1


@pytest.mark.parametrize("given", [[], [float("nan")], ""])
def test_a_gene_list_of_no_names_says_so(tmp_path, given):
    # Said "none of the 0 genes given matches the human bundled source".
    with pytest.raises(UsageError, match="genes= holds no gene names"):
        build(
            Store.open(tmp_path, create=True), model="fake", gene_table=make_genes(5), genes=given
        )


def test_gene_names_saved_as_bytes_are_read_as_text(tmp_path):
    # An .npz of dtype S names (as h5py hands them) and a Python 2 pickle's bytes keys were read
    # as "b'GENE1'": "none of its 10 gene names matches the human genes".
    import pickle

    names = [f"GENE{i}" for i in range(1, 11)]
    matrix = np.random.default_rng(0).standard_normal((10, 3))
    np.savez(tmp_path / "v.npz", genes=np.array(names, dtype="S"), vectors=matrix)
    keyed = {n.encode(): m for n, m in zip(names, matrix, strict=True)}
    (tmp_path / "v.pkl").write_bytes(pickle.dumps(keyed))
    for path in (tmp_path / "v.npz", tmp_path / "v.pkl"):
        assert load_vectors(path).names == names


def test_an_export_unpacked_and_packed_again_imports(store_root, tmp_path):
    # `tar xf x.tar && tar cf y.tar genekb-export.json texts embeddings` adds the folders texts/
    # and embeddings/ as members: "unexpected member 'texts'; not a genekb export".
    export = tmp_path / "x.tar"
    export_version(Store.open(store_root), TAG, export)
    unpacked = tmp_path / "unpacked"
    with tarfile.open(export) as tar:
        tar.extractall(unpacked, filter="data")
    repacked = tmp_path / "repacked.tar"
    with tarfile.open(repacked, "w") as tar:
        for name in ("genekb-export.json", "texts", "embeddings"):
            tar.add(unpacked / name, arcname=name)
    report = import_file(Store.open(tmp_path / "target", create=True), repacked)
    assert len(report["imported"]) == 2


# ---- eval: a task gene the version lacks, named as another gene's alias -----------------------

PANEL = [
    "ATG2A", "AKAP12", "ZNF580", "TBL1X", "FGL1", "WDR81", "NT5C1B", "PRKG1", "SHC4", "RPP25",
    "COPZ1", "PFDN6", "RIPOR1", "EXOC4", "PTOV1", "PRPF8", "ZSWIM9", "CORO1C", "SCHIP1", "RRP12",
    "FPGS", "PLEKHA2", "SNAPIN", "KYAT1", "INAVA", "CCNI", "CUL5", "UBE2J2", "AMH", "DFFB",
]  # fmt: skip


def test_a_task_gene_the_version_lacks_is_missing_not_its_alias_holder(tmp_path):
    # In a version of these 30 bundled genes, MIF (an alias of AMH) and CAD (an alias of DFFB)
    # were read as AMH and DFFB: with other labels, all four rows were "left out" for
    # conflicting labels, and the coverage counted MIF and CAD as found.
    store = Store.open(tmp_path, create=True)
    build(store, model="fake", genes=PANEL, tag="human/panel/fake")
    labels = ["a", "b"] * 15
    task = pd.DataFrame({"gene": [*PANEL, "MIF", "CAD"], "label": [*labels, "b", "a"]})
    document = evaluate(
        [store.embedding("human/panel/fake")], task, seeds=1, feature_sets="vectors"
    )
    coverage = document["results"][0]["coverage"]
    assert coverage["found"] == 30
    assert coverage["conflicting_labels"] == 0
    assert {"MIF", "CAD"} <= set(coverage["missing_examples"])


def test_similar_and_vectors_of_a_gene_the_version_lacks_find_nothing(tmp_path):
    # `genekb similar MIF` on a version without MIF answered for AMH ("query": "AMH"), and
    # vectors(["MIF"]) handed back AMH's vector as found.
    from genekb.query import similar

    store = Store.open(tmp_path, create=True)
    build(store, model="fake", genes=PANEL, tag="human/panel/fake")
    version = store.embedding("human/panel/fake")
    _, found = version.vectors(["MIF", "AMH"])
    assert found.tolist() == [False, True]
    with pytest.raises(GenekbError, match="gene 'MIF' is not in embedding"):
        similar(version, "MIF")
