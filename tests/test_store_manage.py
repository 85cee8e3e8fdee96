"""Managing a store's tags and disk: `genekb tag`, `genekb rm`, `genekb gc` (and their library
calls): every change signed, the catalog following, removal refused where a tag or another
version needs what it would remove, crash-safe, and never through a link out of the store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest

from genekb.build import build
from genekb.errors import GenekbError
from genekb.store import catalog, removal
from genekb.store.removal import collect_garbage, remove, tree_bytes
from genekb.store.store import Store
from genekb.store.tag_edits import delete_tag, point_tag
from genekb.views import combine
from tests.conftest import make_genes, one_line_error, run_genekb

DEAD = "999999999"  # a pid no process has (Linux pids stop at 4,194,304)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Store, dict, dict]:
    """A store of two builds: A tagged human/ncbi-card/fake, B (other genes' texts) tagged b."""
    store = Store.open(tmp_path / "s", create=True)
    a = build(store, model="fake", gene_table=make_genes())
    b = build(store, model="fake", tag="b",
              gene_table=make_genes(rename={3: "renamed"}, date="2024-02-01"))  # fmt: skip
    return store, a, b


def _signed_tags(store: Store) -> dict[str, str]:
    tags, state = store.read_tags()
    assert state == "signed"
    return tags


def _catalog(store: Store) -> dict[str, str]:
    """id -> tags, as catalog.duckdb lists them."""
    con = duckdb.connect(str(store.root / "catalog.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT id, coalesce(tags, '') FROM versions").fetchall())
    finally:
        con.close()


def _clean(store: Store) -> None:
    reports = store.verify()
    assert all(r["ok"] for r in reports), [r["problems"] for r in reports if not r["ok"]]


def _on_disk(store: Store) -> set[str]:
    return set(store.version_ids("text")) | set(store.version_ids("embedding"))


def test_tag_points_moves_only_with_force_and_deletes(two):
    store, a, b = two
    root = str(store.root)
    ok = run_genekb("tag", "lab/current", a["embedding_id"][:8], "--root", root, "--json")
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout) == {
        "tag": "lab/current", "embedding_id": a["embedding_id"], "previous": None}  # fmt: skip
    assert _signed_tags(store)["lab/current"] == a["embedding_id"]
    assert "lab/current" in _catalog(store)[a["embedding_id"]]
    line = one_line_error(run_genekb("tag", "lab/current", "b", "--root", root))
    assert "already points at" in line and "--force" in line
    assert _signed_tags(store)["lab/current"] == a["embedding_id"]  # unchanged
    moved = run_genekb("tag", "lab/current", "b", "--force", "--root", root)
    assert moved.exit_code == 0 and f"(was {a['embedding_id']})" in moved.stderr
    assert _signed_tags(store)["lab/current"] == b["embedding_id"]
    assert "lab/current" in _catalog(store)[b["embedding_id"]]
    gone = run_genekb("tag", "--delete", "lab/current", "--root", root)
    assert gone.exit_code == 0, gone.output
    assert "lab/current" not in _signed_tags(store)
    assert "lab/current" not in _catalog(store)[b["embedding_id"]]
    assert _on_disk(store) == {a["text_id"], a["embedding_id"], b["text_id"], b["embedding_id"]}
    _clean(store)


def test_tag_refusals_and_usage(two):
    store, a, _ = two
    root = str(store.root)
    before = store.tags_file.read_bytes()
    line = one_line_error(run_genekb("tag", "x", a["text_id"], "--root", root))
    assert "is a text version" in line
    line = one_line_error(run_genekb("tag", "x", "humаn/ncbi-card/fake", "--root", root))
    assert "U+0430" in line and "known: b, human/ncbi-card/fake" in line  # a Cyrillic 'а'
    line = one_line_error(run_genekb("tag", "--delete", "nope", "--root", root))
    assert "no tag 'nope'" in line and "known:" in line
    one_line_error(run_genekb("tag", "x", "--root", root), 2)  # no version, no --delete
    one_line_error(run_genekb("tag", "--delete", "b", a["embedding_id"], "--root", root), 2)
    one_line_error(run_genekb("tag", "emb-x", a["embedding_id"], "--root", root), 2)
    one_line_error(run_genekb("tag", "--force", "--root", root), 2)
    assert store.tags_file.read_bytes() == before
    with pytest.raises(GenekbError, match="already points at"):
        point_tag(store, "b", a["embedding_id"])


def test_tag_lists_the_tags(two):
    store, a, b = two
    listed = run_genekb("tag", "--root", str(store.root), "--json")
    assert json.loads(listed.stdout) == {
        "tags": {"human/ncbi-card/fake": a["embedding_id"], "b": b["embedding_id"]}}  # fmt: skip
    delete_tag(store, "b")
    assert _signed_tags(store) == {"human/ncbi-card/fake": a["embedding_id"]}


def test_rm_refused_while_tagged_then_forced(two):
    store, a, b = two
    root, folder = str(store.root), store.version_dir("embedding", b["embedding_id"])
    line = one_line_error(run_genekb("rm", b["embedding_id"], "--root", root))
    assert "tag 'b' points at" in line and "--force" in line and folder.is_dir()
    size = tree_bytes(folder)
    done = run_genekb("rm", "b", "--force", "--root", root, "--json")
    assert done.exit_code == 0, done.output
    report = json.loads(done.stdout)
    assert report["removed"] == [{"kind": "embedding", "id": b["embedding_id"],
                                  "path": f"embeddings/{b['embedding_id']}", "bytes": size}]
    assert report["bytes_freed"] == size > 0 and report["tags_removed"] == {"b": b["embedding_id"]}
    assert not folder.exists()
    assert _signed_tags(store) == {"human/ncbi-card/fake": a["embedding_id"]}
    left = {a["text_id"], a["embedding_id"], b["text_id"]}
    assert set(_catalog(store)) == _on_disk(store) == left
    assert not (store.root / ".staging").exists()
    _clean(store)
    one_line_error(run_genekb("rm", "--root", root), 2)


def test_rm_refuses_what_another_version_rests_on(two):
    store, a, b = two
    line = one_line_error(run_genekb("rm", a["text_id"], "--root", str(store.root)))
    assert line == (f"error: {a['embedding_id']} rests on {a['text_id']} (its text version);"
                    f" remove both (`genekb rm {a['embedding_id']} {a['text_id']}`) or keep"
                    f" {a['text_id']}")  # fmt: skip
    views = combine(store, [a["embedding_id"], b["embedding_id"]], tag="both")
    with pytest.raises(GenekbError, match=f"{views['embedding_id']} rests on .*one of its views"):
        remove(store, ["b"], force=True)
    assert store.has("embedding", b["embedding_id"]) and "b" in _signed_tags(store)
    # Removed together, dependant first: nothing is left resting on a missing version.
    report = remove(store, ["both", "b", b["text_id"]], force=True)
    assert [e["id"] for e in report["removed"]] == [
        views["embedding_id"], b["embedding_id"], b["text_id"]]  # fmt: skip
    assert _on_disk(store) == set(_catalog(store)) == {a["text_id"], a["embedding_id"]}
    _clean(store)


def _debris(store: Store) -> list[Path]:
    """A killed writer's staging folder, its temporary tags file, a check record of a version
    the store does not hold."""
    leftovers = [store.root / ".staging" / f"{DEAD}-abcd1234" / "vectors.parquet",
                 store.root / f".tags.json.{DEAD}-deadbeef.tmp",
                 store.root / ".verified" / "emb-0123456789abcdef.json"]  # fmt: skip
    for path in leftovers:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * 1000)
    return leftovers


def test_gc_dry_run_prints_and_removes_nothing(two):
    store, _, b = two
    remove(store, ["b"], force=True)  # leaves b's text version, which nothing rests on now
    leftovers = _debris(store)
    ran = run_genekb("gc", "--dry-run", "--root", str(store.root))
    assert ran.exit_code == 0, ran.output
    assert f"would remove text {b['text_id']}" in ran.stderr
    assert f"would remove .staging/{DEAD}-abcd1234 (1,000 bytes)" in ran.stderr
    assert "would free" in ran.stderr
    assert store.has("text", b["text_id"]) and all(p.exists() for p in leftovers)


def test_gc_removes_an_orphan_text_version_and_leftovers(two):
    store, a, b = two
    remove(store, ["b"], force=True)
    leftovers = _debris(store)
    text_bytes = tree_bytes(store.version_dir("text", b["text_id"]))
    theirs = [store.root / "runs" / "out.txt", store.root / f".README.md.{DEAD}-deadbeef.tmp"]
    for path in theirs:  # a root may hold a user's files: not the store's, never gc's
        path.parent.mkdir(exist_ok=True)
        path.write_text("mine")
    ran = run_genekb("gc", "--root", str(store.root), "--json")
    assert ran.exit_code == 0, ran.output
    report = json.loads(ran.stdout)
    assert {(e["kind"], e["id"]) for e in report["removed"]} == {
        ("text", b["text_id"]), ("staging", None), ("temporary", None),
        ("record", "emb-0123456789abcdef")}  # fmt: skip
    assert report["bytes_freed"] == text_bytes + 3000 and report["untagged"] == []
    assert not any(os.path.lexists(p) for p in leftovers)
    assert all(p.read_text() == "mine" for p in theirs)
    assert not (store.root / ".staging").exists()
    assert _on_disk(store) == set(_catalog(store)) == {a["text_id"], a["embedding_id"]}
    _clean(store)
    again = collect_garbage(store)
    assert again["removed"] == [] and again["bytes_freed"] == 0


def test_gc_keeps_texts_in_use_and_lists_untagged(two):
    store, a, b = two
    delete_tag(store, "b")
    report = collect_garbage(store)
    assert report["removed"] == [] and report["untagged"] == [b["embedding_id"]]
    assert _on_disk(store) == {a["text_id"], a["embedding_id"], b["text_id"], b["embedding_id"]}


def test_a_removal_killed_midway_leaves_a_store_that_verifies(two, monkeypatch):
    store, a, b = two

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(removal, "delete_staged", killed)  # after the rename, before deleting
    with pytest.raises(KeyboardInterrupt):
        remove(store, ["b"], force=True)
    assert not store.has("embedding", b["embedding_id"]) and "b" not in _signed_tags(store)
    _clean(store)
    assert set(_catalog(store)) == _on_disk(store)
    monkeypatch.undo()
    # Killed after the catalog was rewritten, before the tags and the rename: all still there.
    monkeypatch.setattr(removal, "write_tags", killed)
    with pytest.raises(KeyboardInterrupt):
        remove(store, ["human/ncbi-card/fake", a["text_id"]], force=True)
    assert store.has("embedding", a["embedding_id"]) and "human/ncbi-card/fake" in store.tags()
    _clean(store)


def test_refused_while_another_process_writes_and_through_a_link(two, tmp_path):
    store, _, b = two
    live = store.root / ".staging" / "1-build"  # pid 1 always runs
    live.mkdir(parents=True)
    line = one_line_error(run_genekb("gc", "--root", str(store.root)))
    assert "another process is writing" in line and "nothing was removed" in line
    live.rmdir()
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "data").write_bytes(b"precious")
    (store.root / ".staging").rmdir()
    (store.root / ".staging").symlink_to(outside)
    with pytest.raises(GenekbError, match="symbolic link"):
        collect_garbage(store)
    (store.root / ".staging").unlink()
    fake = store.root / "embeddings" / "emb-0000000000000000"
    fake.symlink_to(outside / "keep")
    report = remove(store, [fake.name])
    assert report["removed"][0]["bytes"] == len(str(outside / "keep"))  # the link, not its target
    assert not os.path.lexists(fake) and (outside / "keep" / "data").read_bytes() == b"precious"
    assert store.has("embedding", b["embedding_id"])


def test_catalog_rebuild_leaves_out_what_is_leaving(two):
    store, a, _ = two
    catalog.rebuild(store, leaving=frozenset({a["embedding_id"]}))
    assert a["embedding_id"] not in _catalog(store) and a["text_id"] in _catalog(store)


def test_the_python_session_has_the_same_calls(two):
    import genekb as gk
    from genekb.errors import UsageError

    store, a, b = two
    assert gk.tag(store.root, "lab/x", "b")["embedding_id"] == b["embedding_id"]
    assert _signed_tags(store)["lab/x"] == b["embedding_id"]
    with pytest.raises(UsageError):
        gk.tag(store, "lab/x")  # neither a version nor delete=True
    with pytest.raises(UsageError):
        gk.tag(store, "lab/x", "b", delete=True)
    deleted = gk.tag(store, "lab/x", delete=True)
    assert deleted == {"tag": "lab/x", "embedding_id": b["embedding_id"]}
    planned = gk.remove(store, "b", force=True, dry_run=True)
    assert [e["id"] for e in planned["removed"]] == [b["embedding_id"]]
    assert store.has("embedding", b["embedding_id"]) and "b" in store.tags()
    gk.remove(store, "b", force=True)
    freed = gk.gc(store)
    assert [e["id"] for e in freed["removed"]] == [b["text_id"]] and freed["bytes_freed"] > 0
    assert _on_disk(store) == set(_catalog(store)) == {a["text_id"], a["embedding_id"]}
