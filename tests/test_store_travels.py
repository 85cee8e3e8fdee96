"""A store's versions travel (every kind carries a content id, export → import --expect → verify)
and a version someone edited cannot pass for another: verify, export and import recompute the
manifest's fields from the data; tags are names; a damaged version has a repair that works."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from genekb.build import build
from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.store.content import CONTENT_KEY
from genekb.store.manifest import MANIFEST, dump_manifest
from genekb.store.sharing import export_version, import_file
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error
from tests.conftest import run_genekb as run
from tests.test_tfidf_lsa import _genes as worded_genes  # the LSA fit needs shared words


def _edit_manifest(folder: Path, change) -> None:
    """Edit a version's manifest as a careful editor would: its self-hash recomputed."""
    data = json.loads((folder / MANIFEST).read_text())
    change(data)
    (folder / MANIFEST).write_bytes(dump_manifest(data))


def _round_trip(store: Store, ref: str, tmp_path: Path) -> dict:
    """Export `ref`, import it with --expect into an empty root, verify there; the reports."""
    out = tmp_path / "sent.tar"
    sent = export_version(store, ref, out)
    assert sent["content_sha256"] and len(sent["content_sha256"]) == 64
    result = run(
        "import", str(out), "--expect", sent["content_sha256"][:16],
        "--root", str(tmp_path / "empty"), "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    verified = run("verify", "--root", str(tmp_path / "empty"), "--json")
    assert verified.exit_code == 0, verified.output
    return {"sent": sent, "verify": json.loads(verified.stdout)}


def test_a_combined_build_with_a_fitted_view_travels(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake+tfidf-lsa", gene_table=worded_genes())
    for version in store.embeddings():  # every kind records its content id at build time
        assert len(version.manifest[CONTENT_KEY]) == 64, version.manifest["encoder"]["backend"]
    assert all(CONTENT_KEY in t.manifest for t in store.texts())
    done = _round_trip(store, report["tag"], tmp_path)
    checked = {v["id"]: v for v in done["verify"]["versions"]}
    assert checked[report["embedding_id"]][CONTENT_KEY] == done["sent"]["content_sha256"]
    # the fitted view travels too, and its fit is checked against the id on the way in
    lsa = store.embedding("human/ncbi-card/tfidf-lsa")
    export_version(store, lsa.id, tmp_path / "lsa.tar")
    assert import_file(Store.open(tmp_path / "b", create=True), tmp_path / "lsa.tar")["imported"]


@pytest.mark.slow
def test_the_default_store_travels(tmp_path):
    """`make demo`'s default build (minilm+tfidf-lsa, the bundled human genes) for a few genes:
    build → export → import --expect into an empty root → verify clean."""
    genes = tmp_path / "genes.txt"
    genes.write_text("CD3E\nCD4\nCD8A\nMS4A1\nLYZ\nINS\nGCG\nALB\n")
    built = run("build", "--genes", str(genes), "--root", str(tmp_path / "a"), "--json")
    assert built.exit_code == 0, built.output
    tag = json.loads(built.stdout)["tag"]
    assert tag == "human/ncbi-card/minilm+tfidf-lsa"
    done = _round_trip(Store.open(tmp_path / "a"), tag, tmp_path)
    assert done["verify"]["ok"] and done["verify"]["checked"] == 3


def test_a_version_without_a_content_id_still_opens_exports_and_imports(tmp_path):
    """Versions written before genekb recorded the content id: it is recomputed from the data."""
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake", gene_table=make_genes())
    version = store.embedding(report["tag"])
    recorded = version.manifest[CONTENT_KEY]
    for folder in (version.path, version.text.path):
        _edit_manifest(folder, lambda m: m.pop(CONTENT_KEY))
    assert store.embedding(report["tag"]).matrix()[1].shape == (40, 16)
    verified = store.verify([report["tag"]])
    assert all(r["ok"] for r in verified) and verified[0][CONTENT_KEY] == recorded
    assert "recomputed" in verified[0]["notes"][0]
    assert _round_trip(store, report["tag"], tmp_path)["sent"]["content_sha256"] == recorded


EDITS = {
    "dim": ("embedding", lambda m: m.update(dim=8), "dim"),
    "taxon": ("embedding", lambda m: m.update(taxon=10090), "taxon"),
    "template": ("embedding", lambda m: m["template"].update(id="kv"), "template"),
    "counts": ("embedding", lambda m: m["counts"].update(genes=39), "counts.genes"),
    "spec hash": ("embedding", lambda m: m.update(encoder_sha256="0" * 64), "encoder_sha256"),
    "content id": ("embedding", lambda m: m.update({CONTENT_KEY: "1" * 64}), "content sha256"),
    "text counts": ("text", lambda m: m["counts"].update(with_summary=7), "with_summary"),
    "a listed path": (
        "embedding",
        lambda m: m["files"].update({"../../../../etc/hostname": {"sha256": "0" * 64, "bytes": 1}}),
        "do not match",
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_manifest_with_its_self_hash_recomputed_is_refused(tmp_path, edit):
    kind, change, words = EDITS[edit]
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake", gene_table=make_genes())
    out = tmp_path / "good.tar"
    export_version(store, report["tag"], out)
    version = store.embedding(report["tag"])
    _edit_manifest(version.path if kind == "embedding" else version.text.path, change)
    reports = store.verify()
    assert not all(r["ok"] for r in reports)
    assert words in " ".join(p for r in reports for p in r["problems"])
    result = run("verify", "--root", str(tmp_path / "a"))
    assert result.exit_code == 1 and "BAD" in result.stderr
    with pytest.raises(IntegrityError, match="damaged"):
        export_version(store, report["tag"], tmp_path / "edited.tar")
    # readers refuse what they would misuse (a wrong dim, a taxon or template not the text's)
    if edit in ("dim", "taxon", "template"):
        with pytest.raises(IntegrityError, match=words):
            store.embedding(report["tag"]).matrix()
    # The repair: the good export replaces the damaged copy, and only when asked.
    with pytest.raises(IntegrityError, match="--replace-damaged"):
        import_file(store, out)
    repaired = import_file(store, out, replace_damaged=True)
    assert repaired["imported"] and all(r["ok"] for r in store.verify())


def test_an_edited_export_is_refused_on_import(tmp_path):
    """The same edit made inside an export file (the data untouched): import refuses it."""
    import tarfile

    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake", gene_table=make_genes())
    version = store.embedding(report["tag"])
    _edit_manifest(version.path, lambda m: m.update(taxon=10090))
    out = tmp_path / "edited.tar"
    with tarfile.open(out, "w") as tar:  # written by hand: export itself refuses the edit
        for folder in (version.text.path, version.path):
            tar.add(folder, arcname=f"{folder.parent.name}/{folder.name}")
        header = {"format": "genekb-store/1", "versions": [version.text_id, version.id],
                  "tags": {}}  # fmt: skip
        (tmp_path / "genekb-export.json").write_text(json.dumps(header))
        tar.add(tmp_path / "genekb-export.json", arcname="genekb-export.json")
    target = tmp_path / "b"
    with pytest.raises(IntegrityError, match="taxon"):
        import_file(Store.open(target, create=True), out)
    assert not target.exists()


@pytest.mark.parametrize(
    "tag",
    ["emb-e8967", "txt-0a", "EMB-1", "a\nb", "x" * 100_000, "../../etc/passwd", "/abs",
     "a//b", "a/./b", "-flag", "a b", "  "],
)  # fmt: skip
def test_a_tag_is_a_name_never_an_id_or_a_path(tmp_path, tag):
    root = tmp_path / "a"
    result = run("build", "--model", "fake", "--tag", tag, "--root", str(root))
    one_line_error(result, 2)
    assert not root.exists()  # refused before any work


def test_references_are_unambiguous(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    a = build(store, model="fake", gene_table=make_genes(), tag="a")
    build(store, model="fake", gene_table=make_genes(n=30), tag="b")
    with pytest.raises(UsageError):
        store.embedding("")
    line = one_line_error(run("similar", "GENE1", "--ref", "", "--root", str(tmp_path / "a")), 2)
    assert "not ''" in line
    twin = a["embedding_id"][:8] + ("0" * 12 if a["embedding_id"][8:] != "0" * 12 else "1" * 12)
    (tmp_path / "a" / "embeddings" / twin).mkdir()  # a second id with the same first 4 digits
    with pytest.raises(UsageError, match="prefix of 2"):
        store.embedding(a["embedding_id"][:8])
    (tmp_path / "a" / "embeddings" / twin).rmdir()
    # A tag written before tags were names, that is also an id prefix, is refused, not guessed.
    other = next(v.id for v in store.embeddings() if v.id != a["embedding_id"])
    tags_file = tmp_path / "a" / "tags.json"
    tags = store.tags() | {other[:9]: a["embedding_id"]}
    store._write_tags(tags)
    with pytest.raises(UsageError, match="both a tag"):
        store.embedding(other[:9])
    result = run("verify", "--root", str(tmp_path / "a"))
    assert result.exit_code == 1 and "looks like a version id" in result.stderr
    assert tags_file.exists()
    with pytest.raises(GenekbError, match="looks like a version id"):
        store.set_tag(other[:9], other)


def test_list_shows_a_version_whose_manifest_is_damaged(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake", gene_table=make_genes())
    (store.embedding(report["tag"]).path / MANIFEST).write_text("{not json")
    listed = json.loads(run("list", "--root", str(tmp_path / "a"), "--json").stdout)["versions"]
    row = next(r for r in listed if r["id"] == report["embedding_id"])
    assert row["status"] == "damaged"


def test_a_build_of_the_same_recipe_replaces_a_damaged_copy(tmp_path):
    store = Store.open(tmp_path / "a", create=True)
    report = build(store, model="fake", gene_table=make_genes())
    vectors = store.embedding(report["tag"]).path / "vectors.parquet"
    data = bytearray(vectors.read_bytes())
    data[len(data) // 2] ^= 1
    vectors.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="genekb build"):
        store.embedding(report["tag"]).matrix()
    with pytest.warns(UserWarning, match="rebuilding it"):
        again = build(store, model="fake", gene_table=make_genes())
    assert again["embedding_id"] == report["embedding_id"]
    assert all(r["ok"] for r in store.verify())
    staging = tmp_path / "a" / ".staging"
    assert not staging.exists() or not any(staging.iterdir())


def test_an_import_whose_tags_cannot_be_written_leaves_nothing_visible(tmp_path, monkeypatch):
    # As for a pull: versions renamed in stayed, untagged, when tags.json could not be written.
    from tests.test_hostile_remote import _full_disk_for_tags
    from tests.test_remote import build_tags, visible

    source = Store.open(tmp_path / "source", create=True)
    build_tags(source, "t0", "t1")
    export_version(source, "t1", tmp_path / "t1.tar")
    target = Store.open(tmp_path / "target", create=True)
    build_tags(target, "t0")
    before = visible(target.root)
    _full_disk_for_tags(monkeypatch)
    line = one_line_error(run("import", str(tmp_path / "t1.tar"), "--root", str(target.root)))
    assert "tags.json: No space left on device" in line
    assert visible(target.root) == before
