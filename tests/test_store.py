"""Store mechanics with a deterministic fake encoder: ids, reuse, integrity, atomicity, transfer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from genekb.build import build
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.store import catalog
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests import fake_encoder
from tests.conftest import make_genes

REPO = Path(__file__).resolve().parents[1]


def _build(store: Store, **kw):
    kw.setdefault("gene_table", make_genes())
    return build(store, model="fake", **kw)


def test_build_is_content_addressed_and_rerun_embeds_nothing(tmp_path):
    store = Store.open(tmp_path / "s", create=True)
    first = _build(store)
    assert first["n_genes"] == 40 and first["embedded"] == 40 and first["reused"] == 0
    assert first["tag"] == "human/ncbi-card/fake" and first["dim"] == 16
    again = _build(store)
    assert (again["text_id"], again["embedding_id"]) == (first["text_id"], first["embedding_id"])
    assert again["embedded"] == 0 and not again["embedding_created"]
    # Another root with the same inputs gets the same ids.
    other = _build(Store.open(tmp_path / "t", create=True))
    assert other["embedding_id"] == first["embedding_id"]


def test_changed_texts_are_the_only_ones_embedded(tmp_path):
    store = Store.open(tmp_path, create=True)
    _build(store)
    fake_encoder.CALLS.clear()
    changed = _build(store, gene_table=make_genes(rename={3: "a renamed gene"}, date="2024-02-01"))
    assert changed["text_created"] and changed["embedding_created"]
    assert (changed["embedded"], changed["reused"]) == (1, 39)
    assert fake_encoder.CALLS == [1]
    versions = store.embeddings()
    assert len(versions) == 2
    # Reused vectors are bit-identical to the first build's.
    a, b = (v.vectors(["GENE1", "GENE3"])[0] for v in versions)
    assert np.array_equal(a[0], b[0]) and not np.array_equal(a[1], b[1])


def test_vectors_by_name_with_found_mask(tmp_path):
    store = Store.open(tmp_path, create=True)
    ev = store.embedding(_build(store)["tag"])
    vectors, found = ev.vectors(["GENE2", "alias5", "ENSG00000000007.3", "8", "NOPE"])
    assert found.tolist() == [True, True, True, True, False]
    ids, matrix = ev.matrix()
    assert np.allclose(vectors[1], matrix[list(ids).index(5)])
    assert not vectors[4].any()
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1, atol=1e-5)


def test_gene_selection_and_unmatched_report(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = _build(store, genes=["GENE1", "GENE2", "ALIAS9", "MISSING1"])
    assert report["n_genes"] == 3 and report["genes_unmatched"] == 1
    assert report["unmatched_examples"] == ["MISSING1"]
    with pytest.raises(GenekbError, match="none of the 2 genes"):
        _build(store, genes=["X1", "X2"])


def test_verify_names_each_flipped_file(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = _build(store)
    assert all(r["ok"] for r in store.verify())
    version_dirs = [
        tmp_path / "texts" / report["text_id"],
        tmp_path / "embeddings" / report["embedding_id"],
    ]
    files = [f for d in version_dirs for f in sorted(d.iterdir())]
    assert {f.name for f in files} == {"genes.parquet", "vectors.parquet", "manifest.json"}
    for file in files:
        original = file.read_bytes()
        for offset in (len(original) // 2, len(original) - 2):
            flipped = bytearray(original)
            flipped[offset] ^= 0x01
            file.write_bytes(bytes(flipped))
            problems = [p for r in store.verify() for p in r["problems"]]
            assert problems and all(str(file) in p for p in problems), (file, offset, problems)
            file.write_bytes(original)
    assert all(r["ok"] for r in store.verify())


def test_catalog_views_join_versions(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = _build(store)
    frame = catalog.query(
        store,
        "SELECT g.symbol, e.model, len(e.vector) AS dim FROM genes g JOIN embeddings e "
        "USING (text_id, gene_id) WHERE g.symbol = 'GENE4'",
    )
    assert frame.to_dict(orient="records") == [{"symbol": "GENE4", "model": "fake", "dim": 16}]
    kinds = catalog.query(
        store, "SELECT kind, count(*) AS n FROM versions GROUP BY kind ORDER BY kind"
    )
    assert kinds.to_dict(orient="records") == [
        {"kind": "embedding", "n": 1},
        {"kind": "text", "n": 1},
    ]
    assert (tmp_path / "catalog.duckdb").exists()
    # The catalog is derived: deleting it loses nothing.
    (tmp_path / "catalog.duckdb").unlink()
    assert catalog.rebuild(store).exists()
    assert report["embedding_id"] in set(catalog.query(store, "SELECT id FROM versions")["id"])


def test_export_compresses_as_its_name_says_and_refuses_another_format(tmp_path):
    import tarfile

    store = Store.open(tmp_path / "a", create=True)
    report = _build(store)
    packed = tmp_path / "emb.tar.gz"
    export_version(store, report["tag"], packed)
    with tarfile.open(packed, "r:gz") as tar:  # really gzip, not a plain tar under that name
        assert "genekb-export.json" in tar.getnames()
    other = Store.open(tmp_path / "b", create=True)
    assert len(import_file(other, packed)["imported"]) == 2
    with pytest.raises(UsageError, match="an export is a tar archive"):
        export_version(store, report["tag"], tmp_path / "emb.zip")
    assert not (tmp_path / "emb.zip").exists()


def test_export_import_roundtrip_and_tamper(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = _build(store)
    file = tmp_path / "emb.tar"
    export_version(store, report["tag"], file)
    with pytest.raises(GenekbError, match="exists; pass --force"):
        export_version(store, report["tag"], file)
    other = Store.open(tmp_path / "b", create=True)
    result = import_file(other, file)
    assert sorted(result["imported"]) == sorted([report["text_id"], report["embedding_id"]])
    assert all(r["ok"] for r in other.verify())
    assert np.array_equal(
        other.embedding(report["embedding_id"]).matrix()[1],
        store.embedding(report["embedding_id"]).matrix()[1],
    )
    assert import_file(other, file)["imported"] == []
    # A flipped byte inside the export is caught before anything becomes visible.
    raw = bytearray(file.read_bytes())
    pos = raw.find(b"PAR1") + 200
    raw[pos] ^= 0xFF
    bad = tmp_path / "bad.tar"
    bad.write_bytes(bytes(raw))
    third = Store.open(tmp_path / "c", create=True)
    with pytest.raises(IntegrityError):
        import_file(third, bad)
    assert third.texts() == [] and third.embeddings() == []
    foreign = tmp_path / "foreign.tar"
    foreign.write_text("hello")
    with pytest.raises(GenekbError, match="not a genekb export"):
        import_file(third, foreign)
    cut = tmp_path / "cut.tar"  # a download cut off halfway: tarfile's ReadError before
    cut.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
    with pytest.raises(IntegrityError, match="is cut short or damaged"):
        import_file(third, cut)
    assert third.texts() == [] and third.embeddings() == []


def test_open_refuses_foreign_and_missing_roots(tmp_path):
    with pytest.raises(GenekbError, match="no genekb store"):
        Store.open(tmp_path / "nothing")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "thesis.docx").write_text("mine")
    with pytest.raises(GenekbError, match="not a genekb store"):
        Store.open(tmp_path / "foreign", create=True)
    assert (tmp_path / "foreign" / "thesis.docx").read_text() == "mine"
    (tmp_path / "afile").write_text("x")
    with pytest.raises(GenekbError, match="is a file"):
        Store.open(tmp_path / "afile")


def test_corrupt_manifest_is_reported(tmp_path):
    store = Store.open(tmp_path, create=True)
    report = _build(store)
    manifest = tmp_path / "embeddings" / report["embedding_id"] / "manifest.json"
    manifest.write_text("{not json")
    (bad,) = [r for r in store.verify() if not r["ok"]]
    assert "corrupt manifest" in bad["problems"][0] and str(manifest) in bad["problems"][0]


_BUILD_SCRIPT = """
import sys
from tests import fake_encoder
from tests.conftest import make_genes
from genekb.build import build
from genekb.store.store import Store
fake_encoder.install()
store = Store.open(sys.argv[1], create=True)
r = build(store, model="fake", gene_table=make_genes(400), batch_size=10)
print(r["embedding_id"])
"""


def _spawn(root: Path, delay: str) -> subprocess.Popen:
    env = {**os.environ, "FAKE_ENCODER_DELAY": delay, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", _BUILD_SCRIPT, str(root)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_sigkill_mid_build_leaves_no_visible_version(tmp_path):
    root = tmp_path / "s"
    proc = _spawn(root, delay="0.2")
    deadline = time.time() + 60
    while time.time() < deadline and not any((root / "texts").glob("*/manifest.json")):
        time.sleep(0.05)
    time.sleep(1.0)  # inside the embedding loop: the text version is done, the vectors are not
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    store = Store.open(root)
    assert store.embeddings() == []
    assert all(r["ok"] for r in store.verify())
    # The next writer clears the dead builder's staging and finishes the version.
    report = build(store, model="fake", gene_table=make_genes(400))
    assert report["embedding_created"] and all(r["ok"] for r in store.verify())
    assert not (root / ".staging").exists() or not any((root / ".staging").iterdir())


def test_two_concurrent_builders_end_with_one_good_copy(tmp_path):
    root = tmp_path / "s"
    Store.open(root, create=True)
    procs = [_spawn(root, delay="0.02") for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    ids = {o[0].strip() for o in outputs}
    assert len(ids) == 1
    store = Store.open(root)
    assert [v.id for v in store.embeddings()] == list(ids)
    assert all(r["ok"] for r in store.verify())
    assert store.tags() == {"human/ncbi-card/fake": ids.pop()}


def test_two_encoders_share_one_text_version_and_compare(tmp_path, encoder_registry):
    from genekb.compare import compare
    from genekb.encoders.base import EncoderSpec

    encoder_registry.register(EncoderSpec(name="fake2", backend="fake", model_id="fake2", dim=8))
    store = Store.open(tmp_path, create=True)
    one = _build(store)
    two = build(store, model="fake2", gene_table=make_genes())
    assert one["text_id"] == two["text_id"] and one["embedding_id"] != two["embedding_id"]
    joined = catalog.query(
        store,
        "SELECT a.symbol FROM embeddings a JOIN embeddings b USING (text_id, gene_id) "
        "WHERE a.model = 'fake' AND b.model = 'fake2'",
    )
    assert len(joined) == 40
    (pair,) = compare([store.embedding(one["tag"]), store.embedding(two["tag"])], k=5)
    assert pair["n_genes"] == 40 and 0 <= pair["mean_overlap"] <= 1
    # The same space agrees with itself completely.
    (same,) = compare([store.embedding(one["tag"]), store.embedding(one["tag"])], k=5)
    assert same["mean_overlap"] == 1.0


def test_tagging_checks_under_the_lock_before_publishing_and_refuses_bad_tags(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = _build(store)
    other = tmp_path / "never"
    # A tag taken meanwhile is refused before the block publishes anything.
    store.set_tag("shared", report["embedding_id"])
    taken = store.tagging({"shared": "emb-0000000000000000"}, force=False)
    with pytest.raises(GenekbError, match="already points at"), taken:
        other.write_text("published")
    assert not other.exists() and store.tags()["shared"] == report["embedding_id"]
    with pytest.raises(GenekbError, match="no such embedding version"):
        store.set_tag("ghost", "emb-doesnotexist")
    for bad in ("", "  ", None):
        with pytest.raises(UsageError, match="a tag must be a non-empty name"):
            store.set_tag(bad, report["embedding_id"])  # type: ignore[arg-type]
    assert set(store.tags()) == {report["tag"], "shared"}


def test_a_build_moves_a_tag_only_with_force(tmp_path):
    store = Store.open(tmp_path / "s", create=True)
    whole = _build(store)
    genes = [f"GENE{i}" for i in range(1, 6)]
    with pytest.raises(GenekbError, match=r"points at emb-.*holds 35 gene\(s\) this build lacks"):
        _build(store, genes=genes)  # a few genes would take the tag the whole store's users read
    assert store.tags()[whole["tag"]] == whole["embedding_id"]
    assert _build(store)["embedding_id"] == whole["embedding_id"]  # the same build: no move
    apart = _build(store, genes=genes, tag="mine")
    assert store.tags() == {whole["tag"]: whole["embedding_id"], "mine": apart["embedding_id"]}
    moved = _build(store, genes=genes, force=True)
    assert store.tags()[whole["tag"]] == moved["embedding_id"] != whole["embedding_id"]
    for wrong in (None, 5):  # the API named, not a TypeError from deep inside
        with pytest.raises(UsageError, match="a version is named by its id, tag or id prefix"):
            store.embedding(wrong)  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="a store root is a path, not int"):
        Store.open(123)  # type: ignore[arg-type]


def test_a_held_lock_is_waited_for_aloud_and_refused_in_words_at_its_timeout(tmp_path, capsys):
    from filelock import FileLock

    store = Store.open(tmp_path / "s", create=True)
    with store.lock("tags"):
        pass  # free: taken at once, nothing said
    assert capsys.readouterr().err == ""
    other = FileLock(str(store.root / "locks" / "tags.lock"))
    held = r"the tags lock of .* stayed held for 0 s; let"
    # Another writer holds it (a second FileLock object, as another process would).
    with other, pytest.raises(GenekbError, match=held), store.lock("tags", timeout=0.2):
        pass
    assert "waiting for the tags lock" in capsys.readouterr().err
    with store.lock("tags"):  # released by the other: free again
        pass


def test_a_catalog_that_cannot_be_written_says_the_versions_are_in(tmp_path, monkeypatch):
    import duckdb

    store = Store.open(tmp_path / "s", create=True)

    def full(*_args, **_kwargs):
        raise duckdb.IOException("No space left on device")

    monkeypatch.setattr(duckdb, "connect", full)
    says = r"No space left on device; the versions and tags are not affected, and `genekb reindex`"
    with pytest.raises(GenekbError, match=says):
        catalog.rebuild(store)
    assert not (store.root / catalog.CATALOG_FILE).exists()
