"""Issue 46, one test per failed case (and its "also seen" notes). Items 7, 8, 12, 13 and 14 (an
output path refused before any work) are also covered, command by command and class by class,
in tests/test_hostile_inputs.py."""

from __future__ import annotations

import io
import json
import pickle
import signal
import tarfile
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from genekb.build import build
from genekb.errors import GenekbError, IntegrityError
from genekb.gene_lists import read_gene_list
from genekb.store.manifest import MANIFEST, dump_manifest, read_manifest
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests.conftest import blobs, feed_fifo, make_genes, one_line_error, run_cellmodel, run_genekb
from tests.test_integrity import snapshot, two_versions

GENES = [f"GENE{i}" for i in range(1, 41)]


def _pickle(path: Path, vectors: dict) -> Path:
    path.write_bytes(pickle.dumps(vectors))
    return path


def _import(path: Path, root: Path, *more: str):
    return run_genekb("import-vectors", str(path), "-m", "x", "--root", str(root), *more)


@pytest.fixture
def store_root(tmp_path) -> Path:
    root = tmp_path / "store"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes())
    return root


# 1, 2: imports are checked whole before anything is written ------------------------------------


@pytest.mark.parametrize(
    ("vectors", "words"),
    [
        ({"CD3E": np.zeros(0), "CD19": np.zeros(0)}, "no dimensions"),
        ({"CD3E": np.array([1 + 2j, 3]), "CD19": np.array([1, 2j])}, "complex"),
        ({"CD3E": np.array([True, False]), "CD19": np.array([False, True])}, "true/false"),
        ({"CD3E": np.ones((2, 2)), "CD19": np.ones((2, 2))}, "not a 1-d vector"),
        ({"CD3E": 1.0, "CD19": 2.0}, "a single number"),
    ],
)
def test_a_refused_import_leaves_the_store_as_it_was(store_root, tmp_path, vectors, words):
    before = snapshot(store_root)
    line = one_line_error(_import(_pickle(tmp_path / "v.pkl", vectors), store_root), 1)
    assert words in line
    assert snapshot(store_root) == before  # no text version, no locks, no tags
    assert run_genekb("verify", "--root", str(store_root)).exit_code == 0


def test_complex_numbers_in_a_table_are_refused_not_truncated(store_root, tmp_path):
    (tmp_path / "v.csv").write_text("gene,a,b\nCD3E,1+2j,2\nCD19,1,4\n")
    assert "'1+2j', not a real number" in one_line_error(_import(tmp_path / "v.csv", store_root))


# 3, 4: sql ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGINT", "interrupt"])
def test_ctrl_c_during_sql_exits_130(store_root, monkeypatch, how):
    from genekb.store import catalog

    real = catalog.connect

    fallback_fired = threading.Event()
    guards: list[threading.Timer] = []

    def connect(store):  # Ctrl-C (SIGINT to this process) or DuckDB's own interrupt, mid-query
        con = real(store)
        sigint = lambda: signal.raise_signal(signal.SIGINT)  # noqa: E731
        threading.Timer(0.5, sigint if how == "SIGINT" else con.interrupt).start()

        def fallback():  # never hang the suite: if the interrupt was lost, stop the query
            fallback_fired.set()
            con.interrupt()

        guard = threading.Timer(120, fallback)
        guard.daemon = True
        guard.start()
        guards.append(guard)
        return con

    monkeypatch.setattr(catalog, "connect", connect)
    # A shell starts background jobs with SIGINT ignored, and some CI runners block it; Python's
    # own handler and an unblocked mask make ^C count (the timer thread inherits the mask).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    mask = signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    slow = "SELECT sum(range * range % 7) FROM range(1000000000000)"  # short tasks, ~an hour
    try:
        line = one_line_error(run_genekb("sql", slow, "--root", str(store_root)), 130)
    finally:
        for guard in guards:  # the query has ended: the guard must not touch a closed connection
            guard.cancel()
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, previous)
    assert not fallback_fired.is_set(), "the interrupt never reached the query"
    assert "interrupted" in line


def test_sql_output_is_capped_and_says_so(store_root):
    query = "SELECT * FROM range(1000)"
    result = run_genekb("sql", query, "--json", "--root", str(store_root))
    doc = json.loads(result.stdout)
    assert len(doc["rows"]) == 100 and doc["truncated"] and doc["limit"] == 100
    assert "--all" in result.stderr and "first 100 rows" in result.stderr
    doc = json.loads(run_genekb("sql", query, "--json", "--limit", "7", "--root",
                                str(store_root)).stdout)  # fmt: skip
    assert len(doc["rows"]) == 7
    result = run_genekb("sql", query, "--json", "--all", "--root", str(store_root))
    assert len(json.loads(result.stdout)["rows"]) == 1000 and "rows" not in result.stderr
    result = run_genekb("sql", query, "--limit", "5", "--root", str(store_root))
    assert result.exit_code == 0 and "first 5 rows" in result.stderr


# 5: eval tasks -----------------------------------------------------------------------------------


def test_a_task_gene_with_two_labels_is_refused_with_the_list(store_root, tmp_path):
    rows = [f"GENE{i},{'a' if i <= 20 else 'b'}" for i in range(1, 41)]
    rows += ["GENE3,b", "GENE30,a"]
    (tmp_path / "task.csv").write_text("gene,label\n" + "\n".join(rows) + "\n")
    line = one_line_error(
        run_genekb("eval", "--task", str(tmp_path / "task.csv"), "--root", str(store_root))
    )
    assert "2 gene(s) are given two or more labels: GENE3, GENE30" in line


# 9, 10, 11: integrity that covers the bytes and the tags ------------------------------------------


def test_a_valid_json_edit_of_tags_is_caught(tmp_path):
    _store, _a, b = two_versions(tmp_path)
    doc = json.loads((tmp_path / "tags.json").read_text())
    doc.get("tags", doc)["a"] = b["embedding_id"]  # tag a -> b's version (any format)
    (tmp_path / "tags.json").write_text(json.dumps(doc, indent=2))
    result = run_genekb("verify", "--root", str(tmp_path))
    assert result.exit_code == 1 and "tags.json" in result.stderr


def _forge(version_dir: Path, *, content_too: bool) -> None:
    """Change one vector value and recompute the manifest's file hashes and self-hash, as someone
    who knows the format would; with `content_too`, the content sha256 as well."""
    from genekb.fileio import sha256_file
    from genekb.store.content import CONTENT_KEY, content_of

    vectors = version_dir / "vectors.parquet"
    table = pq.read_table(vectors)
    flat = table.column("vector").combine_chunks().flatten().to_numpy().copy()
    flat[0] += 0.5
    dim = table.column("vector").type.list_size
    column = pa.FixedSizeListArray.from_arrays(pa.array(flat), dim)
    table = table.set_column(table.schema.get_field_index("vector"), "vector", column)
    pq.write_table(table, vectors)
    manifest = read_manifest(version_dir)
    manifest["files"]["vectors.parquet"] = {
        "sha256": sha256_file(vectors),
        "bytes": vectors.stat().st_size,
    }
    if content_too:
        manifest[CONTENT_KEY] = content_of("embedding", table)
    (version_dir / MANIFEST).write_bytes(dump_manifest(manifest))


def test_tampering_that_recomputes_the_manifest_is_caught(tmp_path):
    store, a, _b = two_versions(tmp_path / "s")
    clean = tmp_path / "clean.tar"
    export_version(store, "a", clean)
    _forge(tmp_path / "s" / "embeddings" / a["embedding_id"], content_too=False)
    result = run_genekb("verify", "--root", str(tmp_path / "s"))
    assert result.exit_code == 1 and "content sha256" in result.stderr
    # No export carries the forged bytes, and no import takes them when forged in the file.
    with pytest.raises(IntegrityError, match="content sha256"):
        export_version(store, "a", tmp_path / "forged.tar")
    unpacked = tmp_path / "unpacked"
    with tarfile.open(clean) as tar:
        tar.extractall(unpacked, filter="data")
    _forge(unpacked / "embeddings" / a["embedding_id"], content_too=False)
    with tarfile.open(tmp_path / "forged.tar", "w") as tar:
        tar.add(unpacked / "genekb-export.json", arcname="genekb-export.json")
        for folder in sorted(unpacked.glob("*/*")):  # texts/<id>, embeddings/<id>
            tar.add(folder, arcname=str(folder.relative_to(unpacked)))
    with pytest.raises(IntegrityError, match="content sha256"):
        import_file(Store.open(tmp_path / "t", create=True), tmp_path / "forged.tar")
    assert not (tmp_path / "t").exists()


def test_a_consistent_forgery_is_refused_against_the_published_content(tmp_path):
    store, a, _b = two_versions(tmp_path / "s")
    published = store.embedding("a").manifest["content_sha256"]
    _forge(tmp_path / "s" / "embeddings" / a["embedding_id"], content_too=True)
    export_version(store, "a", tmp_path / "forged.tar")  # consistent: nothing in it says forged
    target = Store.open(tmp_path / "t", create=True)
    with pytest.raises(IntegrityError, match=r"not the .* you expected"):
        import_file(target, tmp_path / "forged.tar", expect=published[:16])
    assert not (tmp_path / "t").exists()


def test_ctrl_c_after_a_build_publishes_leaves_a_store_that_verifies(tmp_path, monkeypatch):
    root = tmp_path / "s"
    build(Store.open(root, create=True), model="fake", gene_table=make_genes(), genes=GENES[:20])
    from genekb.store import catalog

    def interrupted(store):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # ^C between publishing the version and the catalog
        patch.setattr(catalog, "rebuild", interrupted)
        with pytest.raises(KeyboardInterrupt):
            store = Store.open(root)
            build(store, model="fake", gene_table=make_genes(), genes=GENES[20:], tag="b")
    result = run_genekb("verify", "--root", str(root))
    assert result.exit_code == 0, result.stderr
    assert "rewritten" in result.stderr
    assert run_genekb("verify", "--root", str(root)).stderr.count("rewritten") == 0


# 15 and the notes: inputs from pipes and stdin, messages that point the right way ---------------


def test_gene_lists_tasks_candidates_and_vectors_read_pipes(tmp_path):
    from cellmodel.annotate.ontology import parse_candidates
    from genekb.eval.tasks import resolve_task
    from genekb.store.vector_files import load_vectors

    assert read_gene_list(feed_fifo(tmp_path / "g", b"CD3E\n# c\nCD19\n")) == ["CD3E", "CD19"]
    rows = "".join(f"G{i},{'a' if i % 2 else 'b'}\n" for i in range(12))
    task = resolve_task(str(feed_fifo(tmp_path / "t", f"gene,label\n{rows}".encode())))
    assert len(task.genes) == 12
    assert parse_candidates(str(feed_fifo(tmp_path / "c", b"T cell\nB cell\n"))) == [
        "T cell",
        "B cell",
    ]
    found = load_vectors(feed_fifo(tmp_path / "v", b"gene,a,b\nCD3E,1,2\n"), "csv")
    assert found.names == ["CD3E"] and found.matrix.shape == (1, 2)


def test_build_reads_genes_from_stdin(tmp_path):
    from typer.testing import CliRunner

    from cli.genekb_app import app

    result = CliRunner().invoke(
        app,
        ["build", "--model", "fake", "--genes", "-", "--root", str(tmp_path / "s"), "--json"],
        input="CD3E\nCD19\n",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n_genes"] == 2


def test_wrong_way_messages(tmp_path, store_root):
    from cellmodel.annotate.ontology import parse_candidates

    (tmp_path / "r.csv").write_text("gene,a,b\nCD3E,1,2\nCD19,3\n")
    assert "ragged" in one_line_error(_import(tmp_path / "r.csv", store_root))
    (tmp_path / "d").mkdir()
    line = one_line_error(run_genekb("build", "--genes", str(tmp_path / "d"), "--root",
                                     str(tmp_path / "x")))  # fmt: skip
    assert "is a directory" in line
    (tmp_path / "labels.list").write_text("T cell\nB cell\n")
    assert parse_candidates(str(tmp_path / "labels.list")) == ["T cell", "B cell"]


def test_a_pickle_cannot_ask_for_a_huge_allocation(tmp_path):
    from genekb.store.safe_pickle import safe_load_pickle

    attacks = {
        "array": b"\x80\x02cnumpy._core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
        b"J\x00\x00\x00\x40\x85U\x01b\x87R.",
        "ndarray": b"\x80\x02cnumpy\nndarray\nJ\x00\x00\x00\x40\x85R.",
        "bytes": b"\x80\x02c__builtin__\nbytearray\nJ\x00\x00\x00\x40\x85R.",
    }
    for name, payload in attacks.items():
        (tmp_path / f"{name}.pkl").write_bytes(payload)
        with pytest.raises(GenekbError, match="refused before allocating"):
            safe_load_pickle(tmp_path / f"{name}.pkl")
    ok = io.BytesIO(pickle.dumps({"A": np.arange(5.0)}, protocol=5))
    assert safe_load_pickle(ok)["A"].tolist() == [0, 1, 2, 3, 4]


def test_import_vectors_never_moves_a_tag_without_force(store_root, tmp_path):
    first = _pickle(tmp_path / "one.pkl", {"CD3E": [1.0, 2.0], "CD19": [3.0, 4.0]})
    second = _pickle(tmp_path / "two.pkl", {"CD3E": [5.0, 2.0], "CD19": [3.0, 4.0]})
    assert _import(first, store_root, "--tag", "mine").exit_code == 0
    tags = Store.open(store_root).tags()
    before = snapshot(store_root)
    line = one_line_error(_import(second, store_root, "--tag", "mine"))
    assert "already points at" in line and "--force" in line
    assert snapshot(store_root) == before and Store.open(store_root).tags() == tags
    assert _import(second, store_root, "--tag", "mine", "--force").exit_code == 0
    assert Store.open(store_root).tags()["mine"] != tags["mine"]


# Interrupts: exit 130 and nothing left that verify calls bad ------------------------------------

INTERRUPTS = [
    ("build", "tests.fake_encoder.FakeEncoder.encode",
     ["build", "--model", "fake", "--genes", "{genes}", "--tag", "few"]),  # tag apart: not refused
    ("import-vectors", "genekb.store.foreign.write_manifest",
     ["import-vectors", "{vectors}", "-m", "y"]),
    ("export", "tarfile.TarFile.addfile", ["export", "human/ncbi-card/fake", "{tar}"]),
    ("verify", "genekb.store.integrity.read_verified", ["verify"]),
    ("reindex", "genekb.store.catalog._file_views", ["reindex"]),
    ("eval", "genekb.eval.evaluate", ["eval", "human/ncbi-card/fake"]),
    ("similar", "genekb.query.similar", ["similar", "GENE3", "--model", "fake"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "target", "args"), INTERRUPTS)
def test_an_interrupt_exits_130_and_leaves_a_store_that_verifies(
    store_root, tmp_path, monkeypatch, name, target, args
):
    (tmp_path / "genes.txt").write_text("CD3E\nCD19\nINS\n")
    _pickle(tmp_path / "v.pkl", {"CD3E": [1.0, 2.0], "CD19": [3.0, 4.0]})

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    words = [
        w.format(genes=tmp_path / "genes.txt", vectors=tmp_path / "v.pkl", tar=tmp_path / "o.tar")
        for w in args
    ]
    with monkeypatch.context() as patch:
        patch.setattr(target, interrupt)
        result = run_genekb(*words, "--root", str(store_root))
    assert "interrupted" in one_line_error(result, 130)
    assert not (tmp_path / "o.tar").exists()
    assert not [p for p in tmp_path.rglob("*") if ".tmp" in p.name]
    assert run_genekb("verify", "--root", str(store_root)).exit_code == 0


def test_an_interrupt_in_cellmodel_exits_130(store_root, tmp_path, monkeypatch):
    blobs(30, dim=20, counts=True).write_h5ad(tmp_path / "cells.h5ad")

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("cellmodel.embed.embed", interrupt)
    out = tmp_path / "out.h5ad"
    result = run_cellmodel("embed", str(tmp_path / "cells.h5ad"), "-o", str(out), "--root",
                           str(store_root))  # fmt: skip
    assert "interrupted" in one_line_error(result, 130) and not out.exists()


# Beyond the list: hostile inputs of the same families ------------------------------------


def test_an_output_never_lands_in_a_store_s_own_files(store_root, tmp_path):
    tags = str(store_root / "tags.json")
    line = one_line_error(run_genekb("export", "human/ncbi-card/fake", tags, "--force", "--root",
                                     str(store_root)))  # fmt: skip
    assert "inside the genekb store" in line
    version = next((store_root / "embeddings").iterdir())
    blobs(30, dim=20, counts=True).write_h5ad(tmp_path / "cells.h5ad")
    result = run_cellmodel("cluster", str(tmp_path / "cells.h5ad"), "--no-semantic", "-o",
                           str(version / "x.h5ad"))  # fmt: skip
    assert "inside the genekb store" in one_line_error(result)
    result = run_cellmodel("cluster", str(tmp_path / "cells.h5ad"), "--no-semantic", "--plots",
                           str(version))  # fmt: skip
    assert "inside the genekb store" in one_line_error(result)
    assert run_genekb("verify", "--root", str(store_root)).exit_code == 0


def test_an_endless_stream_is_refused_at_a_limit(tmp_path):
    from genekb.input_streams import read_input_bytes

    with pytest.raises(GenekbError, match="streams more than 1,000 bytes"):
        read_input_bytes(feed_fifo(tmp_path / "z", b"\0" * 5000), "genes file", limit=1000)


def test_a_compressed_bomb_is_refused_before_extracting(tmp_path, monkeypatch):
    import tarfile

    from genekb.store import sharing

    monkeypatch.setattr(sharing, "UNPACK_SLACK", 0)
    bomb = tmp_path / "bomb.tar.gz"
    with tarfile.open(bomb, "w:gz") as tar:
        info = tarfile.TarInfo("texts/txt-0000000000000000/genes.parquet")
        info.size = 2_000_000
        tar.addfile(info, io.BytesIO(b"\0" * info.size))
    with pytest.raises(GenekbError, match="refused before extracting"):
        import_file(Store.open(tmp_path / "t", create=True), bomb)
    assert not (tmp_path / "t").exists()


def test_deeply_nested_pickle_is_refused_in_one_line(store_root, tmp_path):
    nested: list = [1.0]
    for _ in range(400):
        nested = [nested]
    path = tmp_path / "deep.pkl"
    path.write_bytes(pickle.dumps({"CD3E": nested, "CD19": [1.0]}))
    one_line_error(_import(path, store_root))


def test_a_cell_table_reads_from_a_pipe(tmp_path):
    from cellmodel import io as cio

    table = b"cell,CD3E,CD19\nc1,1,0\nc2,0,3\n"
    adata = cio.read(feed_fifo(tmp_path / "cells", table))
    assert adata.shape == (2, 2) and list(adata.var_names) == ["CD3E", "CD19"]


def test_sql_json_is_strict_json(store_root):
    query = "SELECT 'nan'::DOUBLE AS a, 'inf'::DOUBLE AS b, NULL AS c"
    result = run_genekb("sql", query, "--json", "--root", str(store_root))
    doc = json.loads(result.stdout, parse_constant=lambda c: pytest.fail(f"non-JSON {c}"))
    assert doc["rows"] == [{"a": None, "b": None, "c": None}]


def test_a_full_disk_mid_write_is_one_line_and_publishes_nothing(store_root, tmp_path, monkeypatch):
    import errno

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "o.tar"))

    monkeypatch.setattr("tarfile.TarFile.addfile", full)
    line = one_line_error(run_genekb("export", "human/ncbi-card/fake", str(tmp_path / "o.tar"),
                                     "--root", str(store_root)))  # fmt: skip
    assert "No space left on device" in line and not (tmp_path / "o.tar").exists()
    assert not [p for p in tmp_path.iterdir() if p.name != "store"]
