"""`genekb eval` on a gene task a user brings: labels spelled two ways, classes the store
thins out, and a long task's progress."""

from __future__ import annotations

from pathlib import Path

import pytest

from genekb.errors import GenekbError, GenekbWarning
from genekb.eval import evaluate
from genekb.eval.report import to_markdown
from genekb.eval.tasks import Task, read_task_file
from genekb.store.store import Store
from tests.conftest import make_genes
from tests.conftest import run_genekb as run

N = 60
TAG = "human/ncbi-card/fake"


@pytest.fixture(scope="module")
def store_root(tmp_path_factory) -> Path:
    from genekb.build import build

    root = tmp_path_factory.mktemp("newtasks")
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(N))
    return root


def test_labels_differing_only_in_case_are_one_class(tmp_path):
    # A spreadsheet's yes/no column typed by hand: "Yes" and "yes" were two classes, and a
    # binary task was scored as three by macro-F1.
    path = tmp_path / "typed.csv"
    labels = ["yes", "Yes", "no", "No", "no"] * 4
    rows = [f"GENE{i + 1},{lab}" for i, lab in enumerate(labels)]
    path.write_text("gene,label\n" + "\n".join(rows) + "\n")
    with pytest.warns(GenekbWarning, match="differ only in case"):
        task = read_task_file(path)
    assert task.kind == "binary"
    assert task.summary()["classes"] == {"no": 12, "yes": 8}


def test_a_class_the_store_thins_below_five_is_not_told_to_use_fewer_folds(store_root):
    # Seven "rare" genes in the file, four in the store: fewer folds cannot help (five per class
    # is the floor), so the message names the floor, the class and the missing genes.
    rare = [f"GENE{i}" for i in range(1, 5)] + ["NOPE1", "NOPE2", "NOPE3"]
    common = [f"GENE{i}" for i in range(5, N + 1)]
    task = Task("thinned", tuple(rare + common), ("rare",) * 7 + ("common",) * len(common))
    version = Store.open(store_root).embedding(TAG)
    with pytest.raises(GenekbError) as caught:
        evaluate([version], [task], seeds=1, feature_sets="vectors")
    message = str(caught.value)
    assert "fewer folds" not in message and "--folds" not in message
    assert "'rare' has 4 genes" in message and "at least 5" in message
    assert "NOPE1" in message


def test_a_task_left_in_one_class_names_the_missing_genes(store_root):
    genes = [f"GENE{i}" for i in range(1, 31)] + [f"NOPE{i}" for i in range(30)]
    task = Task("one-left", tuple(genes), ("a",) * 30 + ("b",) * 30)
    version = Store.open(store_root).embedding(TAG)
    with pytest.raises(GenekbError, match=r"one class.*30 task genes are not in this version"):
        evaluate([version], [task], seeds=1, feature_sets="vectors")


def test_fewer_folds_is_advised_only_when_it_helps(store_root):
    genes = [f"GENE{i}" for i in range(1, N + 1)]
    task = Task("small", tuple(genes), ("a",) * 6 + ("b",) * (N - 6))
    version = Store.open(store_root).embedding(TAG)
    with pytest.raises(GenekbError, match=r"class 'a' has 6 here .*use at most --folds 6"):
        evaluate([version], [task], seeds=1, folds=8, feature_sets="vectors")


def test_cli_eval_shows_progress_of_the_probe_fits(store_root, tmp_path):
    # A 10,000-gene task runs for minutes; the log showed nothing after its first line.
    path = tmp_path / "mine.csv"
    rows = [f"GENE{i},{'ab'[i % 2]}" for i in range(1, N + 1)]
    path.write_text("gene,label\n" + "\n".join(rows) + "\n")
    result = run("eval", TAG, "-t", str(path), "--seeds", "1", "--root", str(store_root))
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("eval: mine:")]
    assert lines[0] == "eval: mine: 0/30", result.stderr  # 6 feature sets x 1 seed x 5 folds
    assert any(ln.startswith("eval: mine: 30/30 (100%)") and "fits/s" in ln for ln in lines)


def test_mouse_ensembl_ids_asked_of_a_human_version_are_named_as_such(store_root):
    # "build a version that holds the task's genes" sent a mouse user to build a human store.
    mouse = [f"ENSMUSG{i:011d}.3" for i in range(1, 41)]
    version = Store.open(store_root).embedding(TAG)
    task = Task("mouse", tuple(mouse), ("a", "b") * 20)
    with pytest.raises(GenekbError, match=r"40 unmatched names are ENSMUSG Ensembl ids") as caught:
        evaluate([version], [task], seeds=1, feature_sets="vectors")
    assert "build a version" not in str(caught.value)
    human = [f"GENE{i}" for i in range(1, 41)]
    mixed = Task("mixed", tuple(human + mouse[:6]), ("a", "b") * 23)
    document = evaluate([version], [mixed], seeds=1, feature_sets="vectors")
    assert "6 unmatched names are ENSMUSG Ensembl ids" in to_markdown(document)


def test_the_words_tied_to_the_label_say_which_share_is_which_class(store_root):
    # "ribosome (1% / 100%)" left the reader to guess which class each share was.
    genes = [f"GENE{i}" for i in range(1, N + 1)]
    task = Task("parity", tuple(genes), tuple("odd" if i % 2 else "even" for i in range(1, N + 1)))
    version = Store.open(store_root).embedding(TAG)
    document = evaluate([version], [task], seeds=1, feature_sets="vectors")
    assert document["results"][0]["leakage"]["top_words"]
    assert "Words most tied to the label (in even / odd): " in to_markdown(document)


def test_a_task_without_a_header_line_is_told_to_add_one(tmp_path):
    # Said "no gene column; name one of: gene, symbol, … (found RPL10A, ribosomal)".
    path = tmp_path / "bare.csv"
    path.write_text("\n".join(f"GENE{i},{'ab'[i % 2]}" for i in range(1, 21)) + "\n")
    with pytest.raises(GenekbError, match=r"first line \(GENE1, b\) .*a header line, e.g. gene"):
        read_task_file(path)


def test_a_notebook_user_passes_the_task_as_a_dataframe(store_root):
    # gk.eval(store, frame) said "The truth value of a DataFrame is ambiguous", and inside a list
    # "task file: the name gene label 0 … is longer than 255 bytes".
    import pandas as pd

    import genekb as gk

    genes = [f"GENE{i}" for i in range(1, N + 1)]
    frame = pd.DataFrame(
        {"Label": [i % 2 == 0 for i in range(N)]}, index=pd.Index(genes, name="gene")
    )
    version = Store.open(store_root).embedding(TAG)
    report = gk.eval(version, frame, seeds=1, feature_sets="vectors")
    (row,) = report["results"]
    assert row["task"] == "table1" and row["coverage"]["found"] == N
    assert row["coverage"]["classes"] == {"False": N // 2, "True": N // 2}
    report = gk.eval(version, [frame, frame.rename(columns={"Label": "class"})], seeds=1,
                     feature_sets="vectors")  # fmt: skip
    assert [r["task"] for r in report["results"]] == ["table1", "table2"]
    with pytest.raises(GenekbError, match="no label column"):
        gk.eval(version, frame.rename(columns={"Label": "kind"}), seeds=1)
    with pytest.raises(GenekbError, match="or an index named gene"):
        gk.eval(version, frame.rename_axis(None), seeds=1)


def test_mouse_symbols_read_as_a_human_versions_genes_are_said_to_be(store_root):
    # "Rpl3" matched RPL3 case-blind and the coverage said only "symbol 382": a mouse task was
    # scored as human genes without a word.
    genes = [f"Gene{i}" for i in range(1, N + 1)]
    task = Task("mouse-case", tuple(genes), ("a", "b") * (N // 2))
    version = Store.open(store_root).embedding(TAG)
    document = evaluate([version], [task], seeds=1, feature_sets="vectors")
    assert document["results"][0]["coverage"]["found"] == N
    assert f"{N} names are written as mouse symbols (Cd3e)" in to_markdown(document)
    upper = Task("upper", tuple(g.upper() for g in genes), ("a", "b") * (N // 2))
    document = evaluate([version], [upper], seeds=1, feature_sets="vectors")
    assert "mouse symbols" not in to_markdown(document)


def test_eval_help_names_every_bundled_task():
    # The help named two of the four bundled tasks, and "both bundled tasks" as the default.
    from genekb.eval.tasks import BUNDLED

    text = " ".join(run("eval", "--help").stdout.split())
    assert all(name in text for name in BUNDLED), text


def test_an_empty_task_name_and_a_home_path(tmp_path, monkeypatch):
    # -t "" said "task file . is a directory"; --task=~/mine.csv said it did not exist.
    from genekb.errors import UsageError
    from genekb.eval.tasks import resolve_task

    with pytest.raises(UsageError, match=r"give a task: .*dosage-tfs.* not ''"):
        resolve_task("")
    monkeypatch.setenv("HOME", str(tmp_path))
    rows = [f"GENE{i},{'ab'[i % 2]}" for i in range(1, 21)]
    (tmp_path / "mine.csv").write_text("gene,label\n" + "\n".join(rows) + "\n")
    assert len(resolve_task("~/mine.csv").genes) == 20
