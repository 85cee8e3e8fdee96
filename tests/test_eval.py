"""`genekb eval`: tasks and coverage, the probe and its controls, leakage, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from genekb.errors import GenekbError, UsageError
from genekb.eval import evaluate
from genekb.eval.controls import feature_sets
from genekb.eval.leakage import leakage_report
from genekb.eval.probe import Features, cross_validate, make_probe
from genekb.eval.tasks import read_task_file, resolve_task
from genekb.store.store import Store
from tests.conftest import make_genes
from tests.conftest import one_line_error as _one_line_error
from tests.conftest import run_genekb as run

N = 80


def _kinase(i: int) -> bool:
    return i % 3 == 0


@pytest.fixture(scope="module")
def fake_store(tmp_path_factory) -> tuple[Path, Path]:
    """A fake-encoder store whose gene names say 'kinase' for one gene in three, and a user task
    labelling exactly those genes: the words carry the label, the hash vectors do not."""
    from genekb.build import build

    root = tmp_path_factory.mktemp("evalstore")
    rename = {
        i: ("protein kinase" if _kinase(i) else "structural protein") for i in range(1, N + 1)
    }
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(N, rename=rename))
    task = root / "kinases.csv"
    rows = [f"GENE{i},{'kinase' if _kinase(i) else 'other'}" for i in range(1, N + 1)]
    task.write_text("gene,label\n" + "\n".join([*rows, "NOSUCHGENE,other"]) + "\n")
    return root, task


def test_bundled_tasks_have_their_published_classes():
    tfs, hip = resolve_task("dosage-tfs"), resolve_task("hipred")
    assert tfs.summary()["classes"] == {"insensitive": 368, "sensitive": 122}
    assert hip.summary()["classes"] == {"haploinsufficient": 435, "tolerant": 565}
    assert tfs.positive == "sensitive" and hip.positive == "haploinsufficient"
    assert not set(tfs.genes) & set(hip.genes)


def test_unknown_task_and_bad_task_files(tmp_path):
    with pytest.raises(UsageError, match="dosage-tfs"):
        resolve_task("no-such-task")
    one = tmp_path / "one.csv"
    one.write_text("gene,label\n" + "\n".join(f"G{i},a" for i in range(10)) + "\n")
    with pytest.raises(GenekbError, match="at least two labels"):
        read_task_file(one)
    tiny = tmp_path / "tiny.tsv"
    tiny.write_text("symbol\tclass\n" + "\n".join(f"G{i}\t{'ab'[i < 2]}" for i in range(10)))
    with pytest.raises(GenekbError, match="fewer than 5"):
        read_task_file(tiny)
    nolabel = tmp_path / "x.csv"
    nolabel.write_text("gene,score\nA,1\n")
    with pytest.raises(GenekbError, match="no label column"):
        read_task_file(nolabel)


def test_probe_finds_signal_and_not_noise():
    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 60 + ["b"] * 60, dtype=object)
    signal = rng.standard_normal((120, 20)).astype(np.float32)
    signal[60:, 0] += 3.0
    for vectors, low, high in ((signal, 0.95, 1.0), (rng.standard_normal((120, 20)), 0.3, 0.7)):
        result = cross_validate(
            lambda s, v=vectors: make_probe(v, binary=True, seed=s), labels, positive="b"
        )
        assert result.scores.shape == (3, 5) and low <= result.mean <= high, result.mean
    tuned = cross_validate(
        lambda s: make_probe(signal, binary=True, seed=s, tune=True), labels, positive="b",
        seeds=(0,),
    )  # fmt: skip
    assert tuned.mean > 0.95 and set(tuned.chosen_c) <= {0.1, 1.0, 10.0, 100.0, 1000.0}
    three = np.repeat(np.array(["x", "y", "z"], dtype=object), 40)
    vectors = rng.standard_normal((120, 8)) + 4.0 * np.eye(8)[np.repeat([0, 1, 2], 40)]
    result = cross_validate(
        lambda s: make_probe(vectors, binary=False, seed=s), three, positive=None, seeds=(0,)
    )
    assert result.metric == "macro_f1" and result.mean > 0.9


def test_text_features_are_fitted_on_training_rows_only():
    texts = ["alpha beta", "alpha beta", "alpha gamma", "alpha gamma", "zeta only", "zeta only"]
    features = Features(texts=texts).fit(np.arange(4)[:, None])
    vocabulary = set(features.tfidf_.vocabulary_)
    assert "zeta" not in vocabulary and {"beta", "gamma"} <= vocabulary


def test_controls_break_the_gene_identity():
    vectors = np.arange(50, dtype=np.float32).reshape(25, 2)
    builders = feature_sets(vectors, None, binary=True)
    assert set(builders) == {"vectors", "shuffled", "random"}
    shuffled = builders["shuffled"](0).named_steps["features"].vectors
    assert not np.array_equal(shuffled, vectors)
    np.testing.assert_array_equal(np.sort(shuffled, axis=0), vectors)
    assert builders["random"](0).named_steps["features"].vectors.shape == vectors.shape


def test_leakage_names_label_words_by_class():
    texts = ["a haploinsufficient gene"] * 5 + ["a plain gene"] * 5
    labels = np.array(["hi"] * 5 + ["lo"] * 5, dtype=object)
    report = leakage_report(texts, labels, ["haploinsufficien"])
    (term,) = [t for t in report["label_terms"] if t["term"] == "haploinsufficien"]
    assert term["share_by_class"] == {"hi": 1.0, "lo": 0.0}
    assert report["top_words"][0]["word"] in ("haploinsufficient", "plain")


def test_evaluate_puts_controls_beside_the_vectors(fake_store):
    root, task = fake_store
    store = Store.open(root)
    version = store.embedding("human/ncbi-card/fake")
    document = evaluate([version], [str(task)], seeds=2)
    (row,) = document["results"]
    assert row["coverage"]["asked"] == N + 1 and row["coverage"]["found"] == N
    assert row["coverage"]["missing_examples"] == ["NOSUCHGENE"]
    scores = row["scores"]
    assert set(scores) == {
        "vectors", "shuffled", "random", "annotation-depth", "bag-of-words", "vectors+bag-of-words"
    }  # fmt: skip
    # The label is in the words: the bag-of-words finds it; hash vectors of the text do not.
    assert scores["bag-of-words"]["mean"] > 0.95
    assert scores["vectors"]["mean"] < 0.8
    assert len(scores["vectors"]["scores"]) == 2 and len(scores["vectors"]["scores"][0]) == 5
    kinase = [t for t in row["leakage"]["label_terms"] if t["term"] == "kinase"]
    assert kinase and kinase[0]["share_by_class"]["kinase"] == 1.0


def test_cli_eval_json_and_markdown(fake_store):
    root, task = fake_store
    line = _one_line_error(run("eval", "--task", str(task), "--root", str(root)), 1)
    assert "human/ncbi-card/minilm" in line and "human/ncbi-card/fake" in line  # default, known
    tag = "human/ncbi-card/fake"
    result = run("eval", tag, "--task", str(task), "--seeds", "1", "--root", str(root), "--json")
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["results"][0]["version"]["tag"] == "human/ncbi-card/fake"
    result = run(
        "eval", "human/ncbi-card/fake", "-t", str(task), "--seeds", "1", "--root", str(root)
    )
    assert result.exit_code == 0, result.output
    header = result.stdout.splitlines()[0]
    for column in ("vectors", "shuffled", "random", "bag-of-words"):
        assert column in header


def test_cli_eval_bad_input_is_one_line(fake_store, tmp_path):
    root, _ = fake_store
    assert "dosage-tfs" in _one_line_error(run("eval", "--task", "nope", "--root", str(root)), 2)
    line = _one_line_error(run("eval", "no-such-tag", "--root", str(root)), 1)
    assert "no-such-tag" in line
    # The fake store holds none of the bundled TF genes: a clear message, not a score.
    tag = "human/ncbi-card/fake"
    result = run("eval", tag, "-t", "dosage-tfs", "--root", str(root))
    assert result.exit_code == 1 and "Traceback" not in result.output
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "no task could be evaluated" in errors[0]


@pytest.mark.slow
def test_real_minilm_knows_dosage_sensitive_tfs(tmp_path):
    """The default encoder on the bundled TF task: well above its controls."""
    from genekb.build import build

    store = Store.open(tmp_path, create=True)
    task = resolve_task("dosage-tfs")
    build(store, model="minilm", genes=list(task.alt_ids))
    document = evaluate([store.embedding("human/ncbi-card/minilm")], ["dosage-tfs"], seeds=1)
    scores = document["results"][0]["scores"]
    assert scores["vectors"]["mean"] > 0.85
    assert 0.4 < scores["shuffled"]["mean"] < 0.6 and 0.4 < scores["random"]["mean"] < 0.6


def test_annotation_depth_counts_the_record_not_its_words():
    import pandas as pd

    from genekb.eval.controls import annotation_depth

    records = pd.DataFrame(
        {
            "go_bp": [["a", "b", "c"], None],
            "go_mf": [[], ["x"]],
            "go_cc": [["m"], []],
            "aliases": [["A1"], None],
            "summary": ["does things", None],
            "text": ["x" * 9, ""],
        }
    )
    depth = annotation_depth(records)
    np.testing.assert_allclose(
        depth, np.log1p([[3, 0, 1, 1, np.expm1(1), 9], [0, 1, 0, 0, 0, 0]]), rtol=1e-6
    )


def test_a_multiclass_user_task_is_scored_by_macro_f1(fake_store, tmp_path):
    root, _ = fake_store
    task = tmp_path / "three.tsv"
    rows = [f"GENE{i}\t{'abc'[i % 3]}" for i in range(1, N + 1)]
    task.write_text("symbol\tclass\n" + "\n".join(rows) + "\n")
    document = evaluate(
        [Store.open(root).embedding("human/ncbi-card/fake")], [str(task)], seeds=1,
        feature_sets=("vectors", "random"),
    )  # fmt: skip
    (row,) = document["results"]
    assert row["metric"] == "macro_f1" and set(row["scores"]) == {"vectors", "random"}
    assert row["coverage"]["classes"] == {"a": 26, "b": 27, "c": 27}


def test_pfam_families_task_is_bundled_multiclass():
    from genekb.eval.tasks import BUNDLED, DEFAULT_TASKS, resolve_task

    task = resolve_task("pfam-families")
    assert "pfam-families" in BUNDLED and "pfam-families" not in DEFAULT_TASKS
    assert task.kind != "binary" and len(task.genes) == 720
    assert sorted(set(task.labels))[:2] == ["PF00001", "PF00046"] and len(set(task.labels)) == 9
    assert all(task.labels.count(c) == 80 for c in set(task.labels))


def test_cell_type_markers_task_is_bundled_multiclass():
    from genekb.eval.tasks import BUNDLED, DEFAULT_TASKS, resolve_task

    task = resolve_task("cell-type-markers")
    assert "cell-type-markers" in BUNDLED and "cell-type-markers" not in DEFAULT_TASKS
    assert task.kind == "multiclass" and len(task.genes) == 720 and len(set(task.genes)) == 720
    assert {"T cell", "B cell", "neuron", "hepatocyte"} <= set(task.labels)
    assert all(task.labels.count(c) == 60 for c in set(task.labels))
    assert task.alt_ids is not None and all(i.isdigit() for i in task.alt_ids)
