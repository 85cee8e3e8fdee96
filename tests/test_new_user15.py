"""New-user round h56: an ML engineer compares gene embeddings: builds a small store, scores it
with `genekb eval` on their own task files, imports vectors made elsewhere as they are really
distributed, and compares the two."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from genekb.build import build
from genekb.errors import GenekbWarning
from genekb.eval import evaluate
from genekb.store.foreign import import_vectors
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run

N = 60
TAG = "human/ncbi-card/fake"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("h56")
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(N))
    return root


def _task(path: Path) -> Path:
    """GENE1..GENE60, two classes of 30."""
    genes = [f"GENE{i}" for i in range(1, N + 1)]
    labels = ["a" if i % 2 else "b" for i in range(1, N + 1)]
    pd.DataFrame({"gene": genes, "label": labels}).to_csv(path, index=False)
    return path


# ---- eval: two versions holding different genes of a task --------------------------------------


@pytest.fixture(scope="module")
def partial_tag(store_root, tmp_path_factory) -> str:
    """The store's own vectors for 40 of its 60 genes, imported (a file missing a third)."""
    store = Store.open(store_root)
    ids, matrix = store.embedding(TAG).matrix()
    path = tmp_path_factory.mktemp("partial") / "partial.csv"
    frame = pd.DataFrame(matrix[:40], columns=[f"d{i}" for i in range(matrix.shape[1])])
    frame.insert(0, "gene", [f"GENE{int(i)}" for i in ids[:40]])
    frame.to_csv(path, index=False)
    import_vectors(store, path, model="partial", gene_table=make_genes(N))
    return "human/imported/partial"


def test_versions_holding_different_task_genes_are_said_not_comparable(
    store_root, partial_tag, tmp_path
):
    # The store (60 genes) and an import of 40 of its vectors were each scored on their own genes,
    # side by side, without a word: the same vectors scored 0.910 and 0.957 on dosage-tfs.
    store = Store.open(store_root)
    versions = [store.embedding(TAG), store.embedding(partial_tag)]
    task = _task(tmp_path / "task.csv")
    with pytest.warns(GenekbWarning, match=r"different genes of it .*60.*40.*--common-genes"):
        doc = evaluate(versions, [task], seeds=1, feature_sets=["vectors"], leakage=False)
    assert [r["coverage"]["found"] for r in doc["results"]] == [60, 40]


def test_common_genes_scores_every_version_on_the_genes_all_hold(store_root, partial_tag, tmp_path):
    store = Store.open(store_root)
    versions = [store.embedding(TAG), store.embedding(partial_tag)]
    task = _task(tmp_path / "task.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GenekbWarning)
        doc = evaluate(
            versions, [task], seeds=1, feature_sets=["vectors"], leakage=False, common_genes=True
        )
    first, second = doc["results"]
    assert first["coverage"]["found"] == second["coverage"]["found"] == 40
    assert first["coverage"]["found_in_version"] == 60
    assert first["coverage"]["share"] == round(40 / 60, 4)
    assert sum(first["coverage"]["by_route"].values()) == 40
    # the same vectors on the same genes and folds: the same figure
    assert first["scores"]["vectors"] == second["scores"]["vectors"]
    result = run("eval", TAG, partial_tag, "-t", str(task), "--common-genes", "--seeds", "1",
                 "--no-controls", "--root", str(store_root))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "scored on the genes every version holds (this one holds 60)" in result.stdout


def test_one_version_or_versions_of_the_same_genes_say_nothing(store_root, tmp_path):
    store = Store.open(store_root)
    task = _task(tmp_path / "task.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("error", GenekbWarning)
        doc = evaluate([store.embedding(TAG)], [task], seeds=1, feature_sets=["vectors"])
    assert "found_in_version" not in doc["results"][0]["coverage"]


# ---- import-vectors: files as other projects ship them ------------------------------------------


def _names_and_matrix(n: int = N, dim: int = 4) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    return [f"GENE{i}" for i in range(1, n + 1)], rng.standard_normal((n, dim)).astype(np.float32)


def _root(tmp_path: Path) -> tuple[str, str]:
    return "--root", str(tmp_path / "s")


def _torch_like_zip(path: Path) -> Path:
    """What torch.save writes: a zip holding archive/data.pkl (no torch needed to make one)."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        archive.writestr("archive/version", b"3\n")
    return path


def test_a_pytorch_file_is_refused_with_the_line_that_converts_it(tmp_path):
    # `genekb import-vectors emb.pt` said "pass --format (pickle, ...)"; with --format pickle it
    # said "not a readable pickle (A load persistent id instruction was encountered,\nbut no
    # persistent_load function was specified.)": neither said what the file is or what to do.
    path = _torch_like_zip(tmp_path / "emb.pt")
    line = one_line_error(run("import-vectors", str(path), "-m", "x", *_root(tmp_path)), 2)
    assert "PyTorch" in line
    assert "torch.load('emb.pt', map_location='cpu', weights_only=True)" in line
    line = one_line_error(
        run("import-vectors", str(path), "-m", "x", "--format", "pickle", *_root(tmp_path))
    )
    assert "zip archive" in line and "torch.load('emb.pt'" in line and "persistent" not in line
    npz = tmp_path / "v.npz"
    names, matrix = _names_and_matrix()
    np.savez(npz, genes=np.array(names), vectors=matrix)
    line = one_line_error(
        run("import-vectors", str(npz), "-m", "x", "--format", "pickle", *_root(tmp_path))
    )
    assert "--format npz" in line
    assert not (tmp_path / "s").exists()


def test_a_npy_matrix_and_its_vocabulary_convert_by_the_line_given(tmp_path):
    # The .npy note said np.savez(genes=names, ...) without saying where the names come from: the
    # vocab.json beside the matrix ({gene: row}); the line given now converts the pair as shipped.

    names, matrix = _names_and_matrix()
    order = np.random.default_rng(1).permutation(N)  # a vocabulary in no row order
    np.save(tmp_path / "emb.npy", matrix)
    (tmp_path / "vocab.json").write_text(json.dumps({names[i]: int(i) for i in order}))
    line = one_line_error(
        run("import-vectors", str(tmp_path / "emb.npy"), "-m", "x", *_root(tmp_path)), 2
    )
    command = shlex.split(line[line.index("python -c") :])
    subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, check=True)
    store = Store.open(tmp_path / "store", create=True)
    import_vectors(store, tmp_path / "vectors.npz", model="npy", gene_table=make_genes(N))
    ids, got = store.embedding("human/imported/npy").matrix()
    assert np.allclose(got, matrix[ids.astype(int) - 1])  # GENEi is gene id i


def test_a_json_of_gene_vectors_is_read_and_a_vocabulary_is_told_apart(tmp_path):
    names, matrix = _names_and_matrix()
    path = tmp_path / "vectors.json"
    path.write_text(json.dumps({g: v.tolist() for g, v in zip(names, matrix, strict=True)}))
    store = Store.open(tmp_path / "store", create=True)
    report = import_vectors(store, path, model="json", gene_table=make_genes(N))
    assert report["mapping"]["matched"] == N
    vocab = tmp_path / "vocab.json"
    vocab.write_text(json.dumps({g: i for i, g in enumerate(names)}))
    line = one_line_error(run("import-vectors", str(vocab), "-m", "v", *_root(tmp_path)))
    assert "a vocabulary" in line and "json.load(open('vocab.json'))" in line


# ---- eval: a gene list per class -----------------------------------------------------------------


@pytest.mark.skipif(shutil.which("awk") is None, reason="needs awk")
def test_a_gene_list_per_class_is_told_the_line_that_makes_a_task(store_root, tmp_path):
    # Two files of genes, one per class, as people keep them: `-t sensitive.txt` said "needs a
    # gene column and a label column, found only 'GENE1'" and nothing on how to make one.

    for name, rest in (("sensitive.txt", 1), ("insensitive.txt", 0)):
        genes = [f"GENE{i}" for i in range(1, N + 1) if i % 2 == rest]
        (tmp_path / name).write_text("\n".join(genes) + "\n")
    line = one_line_error(run("eval", "-t", str(tmp_path / "sensitive.txt"), "--root",
                              str(store_root)))  # fmt: skip
    assert "a gene list is one class" in line
    command = line[line.index("awk ") :].replace("OTHER.txt", "insensitive.txt")
    subprocess.run(command, shell=True, cwd=tmp_path, check=True)
    assert shlex.split(command)[-1] == "task.csv"
    result = run("eval", TAG, "-t", str(tmp_path / "task.csv"), "--seeds", "1", "--no-controls",
                 "--root", str(store_root), "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    [task] = json.loads(result.stdout)["tasks"]
    assert task["classes"] == {"insensitive": 30, "sensitive": 30}


def test_a_column_of_vectors_written_as_text_is_read(tmp_path):
    # A DataFrame of gene and embedding (a list per gene, as a Hugging Face dataset or a GenePT
    # table holds it) saved with to_csv writes each vector as "[0.1, 0.2, ...]": the import said
    # "column(s) ['embedding'] are not numbers; keep one gene column".
    names, matrix = _names_and_matrix()
    store = Store.open(tmp_path / "store", create=True)
    as_lists = tmp_path / "lists.csv"
    pd.DataFrame({"gene": names, "embedding": [v.tolist() for v in matrix]}).to_csv(
        as_lists, index=False
    )
    as_arrays = tmp_path / "arrays.csv"  # NumPy's str: spaces, lines wrapped inside the quotes
    pd.DataFrame({"gene": names, "embedding": list(np.tile(matrix, 3))}).to_csv(
        as_arrays, index=False
    )
    for path, model in ((as_lists, "lists"), (as_arrays, "arrays")):
        import_vectors(store, path, model=model, gene_table=make_genes(N))
        ids, got = store.embedding(f"human/imported/{model}").matrix()
        want = matrix[ids.astype(int) - 1]
        assert np.allclose(got, want if model == "lists" else np.tile(want, 3), atol=1e-6)
    elided = tmp_path / "elided.csv"  # past 1,000 numbers NumPy prints "..." for the middle
    pd.DataFrame({"gene": names, "embedding": list(np.tile(matrix, 300))}).to_csv(
        elided, index=False
    )
    line = one_line_error(run("import-vectors", str(elided), "-m", "e", *_root(tmp_path)))
    assert "middle left out ('...')" in line


# ---- eval: what the table says ----------------------------------------------------------------


def test_the_table_says_what_each_control_is(store_root, tmp_path):
    # The table's columns 'shuffled', 'random', 'annotation depth' were named, never explained,
    # outside docs/genekb.md; and one seed read "over 1 seeds".
    result = run("eval", TAG, "-t", str(_task(tmp_path / "t.csv")), "--seeds", "1",
                 "--root", str(store_root))  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "over 1 seed × 5 folds" in result.stdout
    [legend] = [ln for ln in result.stdout.splitlines() if ln.startswith("Controls, on the same")]
    for what in ("shuffled: the same vectors given to other genes", "random: Gaussian vectors",
                 "annotation depth: six counts per gene", "bag-of-words: TF-IDF"):  # fmt: skip
        assert what in legend
    bare = run("eval", TAG, "-t", str(tmp_path / "t.csv"), "--seeds", "1", "--no-controls",
               "--root", str(store_root))  # fmt: skip
    assert "Controls, on the same" not in bare.stdout


def test_a_gene_given_twice_in_a_task_file_is_counted_once_with_a_word(tmp_path):
    # 490 rows, two of them repeating a gene with its label, were reported as "of 488 genes"
    # without a word on where two rows went.
    from genekb.eval.tasks import read_task_file

    path = _task(tmp_path / "t.csv")
    with path.open("a") as fh:
        fh.write("GENE1,a\nGENE2,b\n")
    with pytest.warns(GenekbWarning, match=r"2 rows repeat a gene .*GENE1, GENE2.*counts once"):
        task = read_task_file(path)
    assert len(task.genes) == N


def test_a_task_of_one_column_per_class_marked_yes_is_read(tmp_path):
    # The dosage TFs as the Geneformer examples ship them (/work/shared/data/gene_tasks): columns
    # ensembl_id, gene_name, dosage_insensitive, dosage_sensitive, "Yes" under the gene's class.
    # `genekb eval -t` said "no label column; name one of: label, …", and no renaming could help.
    from genekb.eval.tasks import read_task_file

    rows = [f"ENSG{i:011d},GENE{i},{'Yes' if i % 2 else ''},{'' if i % 2 else 'yes'}"
            for i in range(1, N + 1)]  # fmt: skip
    path = tmp_path / "dosage.csv"
    path.write_text("ensembl_id,gene_name,insensitive,sensitive\n" + "\n".join(rows) + "\n")
    with pytest.warns(GenekbWarning, match=r"no label column; .* insensitive, sensitive"):
        task = read_task_file(path)
    assert task.summary()["classes"] == {"insensitive": 30, "sensitive": 30}
    assert task.labels[:2] == ("insensitive", "sensitive")
    both = tmp_path / "both.csv"
    marks = "\n".join(f"GENE{i},{'x' if i % 2 else ''},{'' if i % 2 else 'x'}" for i in range(2, N))
    both.write_text(f"gene,a,b\nGENE1,yes,yes\n{marks}\n")
    line = one_line_error(run("eval", "-t", str(both), "--root", str(tmp_path / "s")))
    assert "1 rows mark more than one of the class columns a, b (e.g. 'GENE1')" in line


def test_one_column_of_marks_is_still_no_label_column(tmp_path):
    from genekb.errors import GenekbError
    from genekb.eval.tasks import read_task_file

    path = tmp_path / "t.csv"
    path.write_text("gene,essential\n" + "\n".join(f"GENE{i},yes" for i in range(1, 9)) + "\n")
    with pytest.raises(GenekbError, match="no label column"):
        read_task_file(path)


def test_ensembl_ids_several_genes_share_are_not_told_to_be_given_by_ensembl_id():
    # Ensembl-keyed vectors: "14 unmatched names name several genes each (ENSG00000100197, …),
    # so none was taken: give those genes by symbol, Ensembl or Entrez id", which they were.
    from genekb.genemap import shared_name_note

    note = shared_name_note(["ENSG00000100197", "ENSG00000178934"], 14)
    assert note.endswith("give those genes by symbol or Entrez id")
    assert shared_name_note(["SEPT2"]).endswith("by symbol, Ensembl or Entrez id")


def test_similar_by_the_model_name_of_an_import_points_at_its_tag(store_root, partial_tag):
    # `genekb import-vectors … -m partial` then `genekb similar GENE1 -m partial` said "unknown
    # model 'partial'; choose one of: biobert, …", a list of encoders with no word of the import.
    line = one_line_error(run("similar", "GENE1", "-m", "partial", "--root", str(store_root)), 2)
    assert line.endswith(f"read them with --ref {partial_tag}")
    result = run("similar", "GENE1", "--ref", partial_tag, "-k", "3", "--root", str(store_root))
    assert result.exit_code == 0, result.output
    line = one_line_error(run("similar", "GENE1", "-m", "nosuch", "--root", str(store_root)), 2)
    assert "unknown model 'nosuch'" in line


def test_a_published_folder_given_as_a_root_says_how_to_read_it(store_root, tmp_path):
    # `genekb publish FOLDER` then `genekb eval --root FOLDER` said "FOLDER is not a genekb store
    # (no genekb-store.json) and is not empty; choose a store root or a new directory", while
    # the same folder given as file://FOLDER is read in place.
    folder = tmp_path / "pub"
    assert run("publish", str(folder), TAG, "--root", str(store_root)).exit_code == 0
    line = one_line_error(run("similar", "GENE1", "--ref", TAG, "--root", str(folder)))
    assert f"--root {folder.resolve().as_uri()}" in line and f"genekb pull {folder} TAG" in line
    result = run("similar", "GENE1", "--ref", TAG, "-k", "2", "--root", folder.resolve().as_uri())
    assert result.exit_code == 0, result.output


def _run_line(line: str, cwd: Path) -> None:
    """Run the `python -c "…"` a message gave, with this interpreter."""
    command = shlex.split(line[line.index("python -c") :])
    subprocess.run([sys.executable, *command[1:]], cwd=cwd, check=True)


def test_a_pickle_of_other_objects_is_told_the_line_that_converts_it(tmp_path):
    # A pickled DataFrame, or a dict of tensors, was refused with "Convert it to .npz or
    # .parquet where it was made", and a legacy torch.save file read as a pickle said "expected a
    # dict of gene name -> vector, found int" (torch's magic number).
    import array
    import pickle

    names, matrix = _names_and_matrix()
    frame = pd.DataFrame(matrix, index=pd.Index(names, name="gene"))
    frame.to_pickle(tmp_path / "frame.pkl")
    objects = {g: array.array("f", v.tolist()) for g, v in zip(names, matrix, strict=True)}
    (tmp_path / "objects.pkl").write_bytes(pickle.dumps(objects))
    store = Store.open(tmp_path / "store", create=True)
    for name, made in (("frame.pkl", "vectors.parquet"), ("objects.pkl", "vectors.npz")):
        line = one_line_error(run("import-vectors", str(tmp_path / name), "-m", "p",
                                  *_root(tmp_path)))  # fmt: skip
        assert "Where you trust it, convert it: python -c" in line
        _run_line(line, tmp_path)
        model = name.split(".")[0]
        import_vectors(store, tmp_path / made, model=model, gene_table=make_genes(N))
        ids, got = store.embedding(f"human/imported/{model}").matrix()
        assert np.allclose(got, matrix[ids.astype(int) - 1])
    legacy = tmp_path / "legacy.pt"
    legacy.write_bytes(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2) + b"rest of the file")
    line = one_line_error(
        run("import-vectors", str(legacy), "-m", "p", "--format", "pickle", *_root(tmp_path))
    )
    assert "PyTorch file (torch.save)" in line and "torch.load('legacy.pt'" in line


def test_a_nan_vector_is_refused_with_the_way_on(tmp_path):
    # A gene whose vector was normalised from zeros (0/0) holds NaN: refused, naming it, with no
    # word on what to do; zero vectors are left out at import, so that is one way on.
    names, matrix = _names_and_matrix()
    matrix[3] = np.nan
    path = tmp_path / "v.npz"
    np.savez(path, genes=np.array(names), vectors=matrix)
    line = one_line_error(run("import-vectors", str(path), "-m", "n", *_root(tmp_path)))
    assert "e.g. GENE4; drop those genes, or give them vectors of zeros" in line
    matrix[3] = 0
    np.savez(path, genes=np.array(names), vectors=matrix)
    store = Store.open(tmp_path / "store", create=True)
    report = import_vectors(store, path, model="z", gene_table=make_genes(N))
    assert report["mapping"]["matched"] == N - 1


@pytest.mark.slow  # the line runs torch in a new process: seconds to import
@pytest.mark.parametrize("state_dict", [False, True])
def test_the_pytorch_line_converts_a_tensor_and_a_scgpt_state_dict(tmp_path, state_dict):
    # scGPT ships vocab.json beside best_model.pt, a state dict holding the gene embedding under
    # 'encoder.embedding.weight'; the line given converts it, or a bare tensor, as they are.
    torch = pytest.importorskip("torch")
    names, matrix = _names_and_matrix()
    order = np.random.default_rng(2).permutation(N)
    (tmp_path / "vocab.json").write_text(json.dumps({names[i]: int(i) for i in order}))
    tensor = torch.from_numpy(matrix)
    saved = (
        {"encoder.embedding.weight": tensor, "decoder.bias": torch.ones(2)}
        if state_dict
        else tensor
    )
    torch.save(saved, tmp_path / "best_model.pt")
    line = one_line_error(
        run("import-vectors", str(tmp_path / "best_model.pt"), "-m", "t", *_root(tmp_path)), 2
    )
    _run_line(line, tmp_path)
    store = Store.open(tmp_path / "store", create=True)
    import_vectors(store, tmp_path / "vectors.npz", model="t", gene_table=make_genes(N))
    ids, got = store.embedding("human/imported/t").matrix()
    assert np.allclose(got, matrix[ids.astype(int) - 1])


def test_an_import_holding_too_few_task_genes_is_told_to_import_more(store_root, tmp_path):
    # Five genes' vectors imported, then `genekb eval`: "build a version that holds the task's
    # genes", a build that cannot give those vectors.
    names, matrix = _names_and_matrix(5)
    path = tmp_path / "five.npz"
    np.savez(path, genes=np.array(names), vectors=matrix)
    root = tmp_path / "s"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(N))
    import_vectors(Store.open(root), path, model="five", gene_table=make_genes(N))
    result = run("eval", "human/imported/five", "-t", str(_task(tmp_path / "t.csv")),
                 "--root", str(root))  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output
    line = result.stderr.strip().splitlines()[-1]
    assert line.endswith("only 5 of 60 task genes are in this version (at least 20 needed);"
                         " import vectors of more of the task's genes")  # fmt: skip


def test_a_task_of_a_score_column_is_told_it_is_a_score_at_once(tmp_path):
    # gene,score (a regression target) said "no label column; name one of: label, …"; renamed
    # label, it was then refused as a score: two tries to learn that eval scores classes.
    rng = np.random.default_rng(0)
    path = tmp_path / "score.csv"
    pd.DataFrame({"gene": [f"GENE{i}" for i in range(1, N + 1)], "entrez_id": range(1, N + 1),
                  "score": rng.uniform(size=N)}).to_csv(path, index=False)  # fmt: skip
    line = one_line_error(run("eval", "-t", str(path), "--root", str(tmp_path / "s")))
    assert line.endswith(f"(found gene, entrez_id, score); 'score' holds {N} different numbers, a"
                         " score: eval scores classes, so make a few of it first (e.g. a label of"
                         " 'high' above a cut-off and 'low' below)")  # fmt: skip


def test_task_files_a_shell_pattern_gave_as_versions_are_told_to_take_their_own_t(
    store_root, tmp_path
):
    # `genekb eval -t tasks/*.csv`: the shell gives one file to -t and the others as versions,
    # which said "no embedding version 'tasks/b.csv' in …; known: <every tag>".
    first, second = _task(tmp_path / "a.csv"), _task(tmp_path / "b.csv")
    line = one_line_error(run("eval", "-t", str(first), str(second), "--root", str(store_root)), 2)
    assert line.startswith(f"error: {str(second)!r} is a file, not an embedding version")
    assert "give each task file its own -t" in line
    line = one_line_error(run("eval", "nosuch", "--root", str(store_root)))
    assert "no embedding version 'nosuch'" in line
