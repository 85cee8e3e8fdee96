"""Pointing a tag at an embedding version and deleting one (`genekb tag`), under the tags lock,
signed as every writer of tags.json signs it; the catalog's `tags` column follows."""

from __future__ import annotations

from typing import Any

from genekb.errors import GenekbError, listed
from genekb.fileio import atomic_write
from genekb.genemap import lookalike_note
from genekb.store import catalog
from genekb.store.ids import check_tag, check_tag_species
from genekb.store.store import Store
from genekb.store.tags_file import tags_document


def write_tags(store: Store, tags: dict[str, str]) -> None:
    """tags.json holding exactly `tags`, signed (the caller holds the tags lock)."""
    atomic_write(store.tags_file, tags_document(tags))


def point_tag(store: Store, name: str, ref: str, *, force: bool = False) -> dict[str, Any]:
    """Point tag `name` at the embedding version `ref` names (id, unique prefix or tag); a tag
    that points elsewhere moves only with `force`. Returns the tag, its version and the one it
    pointed at before (None for a new tag)."""
    check_tag(name)
    vid = store.resolve("embedding", ref)  # a text version or an unknown one is refused here
    with store.tagging({name: vid}, force=force):  # (a remote store is refused here)
        version = store.embedding(vid)  # and a damaged version here, before the tag moves
        check_tag_species(name, version.taxon, vid, force=force)
        before = store.tags().get(name)
    catalog.rebuild(store)
    return {"tag": name, "embedding_id": vid, "previous": before}


def delete_tag(store: Store, name: str) -> dict[str, Any]:
    """Delete tag `name` (any name tags.json holds, one that breaks today's naming rule too);
    its version stays. Returns the tag and the version it pointed at."""
    with store.lock("tags"):
        tags = store.tags()
        if name not in tags:
            known = f"known: {listed(sorted(tags))}" if tags else "the store has no tags"
            raise GenekbError(f"no tag {name!r} in {store.root}{lookalike_note([name])}; {known}")
        vid = tags.pop(name)
        write_tags(store, tags)
    catalog.rebuild(store)
    return {"tag": name, "embedding_id": vid}
