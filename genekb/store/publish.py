"""`genekb publish`: a static, self-describing copy of chosen versions at a folder or fsspec URL.

The remote holds the store's own layout (`texts/<id>/…`, `embeddings/<id>/…`) and, written last,
the index (`genekb.store.remote_index`). Until the index names a version, readers do not know it
is there, so a publish cut short leaves the remote as it was for every reader. A folder served by
any static HTTP server is then a remote that `genekb pull` and `Store.open(URL)` read.

Re-publishing uploads only what is new: a file the previous index lists with the same sha256,
and which the remote holds at that size, is not sent again. Only bytes that pass their hash check
here are uploaded: a damaged local version is refused, never published.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.output_paths import inside_a_store
from genekb.store.locks import HOLDER_SUFFIX, waiting_lock
from genekb.store.manifest import MANIFEST, now_iso
from genekb.store.remote_index import (
    INDEX,
    KIND_DIRS,
    PARSE_TAIL,
    dump_index,
    parse_index,
    path_of,
    version_entry,
)
from genekb.store.remote_io import RETRIES, NotFound, Progress, Remote
from genekb.store.signing import SIG_SUFFIX, Passphrase, key_fingerprint, load_private
from genekb.store.signing import sign as sign_index
from genekb.store.store import EmbeddingVersion, Store

INDEX_LOCK = f"{INDEX}.lock"  # in a local folder remote: one index read-and-write at a time


def _chosen(store: Store, refs: list[str]) -> tuple[list[Any], dict[str, str]]:
    """(versions to publish, texts before embeddings; the tags that go with them: those named,
    and every tag of a version named by its id, or of every version when none is named)."""
    if refs:
        picked = [store.version(ref) for ref in refs]
    else:
        picked = list(store.embeddings()) or list(store.texts())
        if not picked:
            raise GenekbError(f"{store.root} holds no versions to publish")
    versions: dict[str, Any] = {}
    for v in picked:
        if isinstance(v, EmbeddingVersion):
            versions.setdefault(v.text_id, v.text)
        versions.setdefault(v.id, v)
    ordered = sorted(versions.values(), key=lambda v: (v.kind != "text", v.id))
    every = store.tags()
    # A version named by a tag goes with that tag alone: its other tags (a lab's "scratch") are
    # published only when named too, or when the version itself is named by its id.
    named = refs or [None] * len(picked)
    by_id = {v.id for v, ref in zip(picked, named, strict=True) if ref not in every}
    tags = {t: vid for t, vid in every.items() if vid in by_id or t in (refs or [])}
    return ordered, tags


def _previous(remote: Remote, force: bool) -> tuple[dict[str, Any], list[str]]:
    """The remote's current index (empty if none). One this genekb cannot read (damaged, or a
    newer genekb's) is replaced whole only with `force`, with a note: the new index would list
    none of its versions and tags, which were rewritten away with a note alone."""
    try:
        return parse_index(remote.read(INDEX), remote.where(INDEX)), []
    except NotFound:
        return {"tags": {}, "versions": {}}, []
    except IntegrityError as exc:
        why = str(exc).removeprefix(f"{remote.where(INDEX)}: ").removesuffix(PARSE_TAIL)
        if not force:
            raise IntegrityError(
                f"{remote.where(INDEX)}: {why}; publishing would replace it and unlist every"
                " version it lists: repair or move it, or pass --force to replace it"
            ) from None
        return {"tags": {}, "versions": {}}, [f"the remote's index was replaced ({why})"]


def _finished_before(remote: Remote, kind: str, vid: str, entry: dict[str, Any]) -> bool:
    """Whether a publish cut short before its index (so no index lists the version) got as far
    as this version's manifest, which goes up after the version's other files: those files
    are then vouched for as an index would vouch for them, and a rerun does not send them
    again (it sent every file of every version not yet indexed)."""
    meta = entry["files"][MANIFEST]
    try:
        data = remote.read(path_of(kind, vid, MANIFEST))
    except NotFound:
        return False
    return hashlib.sha256(data).hexdigest() == meta["sha256"]


def _moved(remote: Remote, index: dict[str, Any], tags: dict[str, str], force: bool) -> list[str]:
    """The tags `index` points elsewhere than `tags`; GenekbError without `force`."""
    moved = sorted(t for t, vid in tags.items() if index["tags"].get(t, vid) != vid)
    if moved and not force:
        raise GenekbError(
            f"tag {moved[0]!r} already points at {index['tags'][moved[0]]} on {remote.url}; pass "
            "--force to move it"
        )
    return moved


def _upload(
    remote: Remote, versions: list[Any], old: dict[str, Any]
) -> tuple[dict[str, int], dict[str, Any]]:
    """Every file of `versions` the remote lacks, each version's manifest last; (counts, the
    index entries of `versions`)."""
    counts = {"files_uploaded": 0, "bytes_uploaded": 0, "files_skipped": 0}
    entries = {}
    for v in versions:
        entry = version_entry(v)
        before = (old["versions"].get(v.id) or {}).get("files", {})
        if not before and _finished_before(remote, v.kind, v.id, entry):
            before = entry["files"]
        names = [n for n in sorted(entry["files"]) if n != MANIFEST] + [MANIFEST]
        for name in names:  # the manifest last: a version folder is complete once it is there
            meta, path = entry["files"][name], path_of(v.kind, v.id, name)
            here = v.path / name
            if before.get(name) == meta and remote.holds(path, meta["bytes"], meta["sha256"], here):
                counts["files_skipped"] += 1
                continue
            data = v.read_bytes(name) if name != MANIFEST else (v.path / MANIFEST).read_bytes()
            if hashlib.sha256(data).hexdigest() != meta["sha256"]:
                raise IntegrityError(f"{v.path / name} changed while publishing; nothing indexed")
            remote.put(path, data)
            counts["files_uploaded"] += 1
            counts["bytes_uploaded"] += len(data)
        entries[v.id] = entry
    return counts, entries


def _write_index(
    remote: Remote,
    old: dict[str, Any],
    tags: dict[str, str],
    ours: dict[str, Any],
    force: bool,
    key: Ed25519PrivateKey | None = None,
) -> str:
    """Write the index: the one read before uploading, plus `ours` and `tags`; its time.

    The index is read again first: another publish to the same remote that wrote it meanwhile
    had its versions and tags dropped by this one's index, written from the earlier read. Its
    versions and tags are kept, and a tag it moved meanwhile moves only with `force`. In a local
    folder a lock file holds the read and the write together (two publishes that read before
    either wrote each dropped the other's versions); on an object store a window remains, as
    they offer no compare-and-swap that every S3-compatible server honours.)

    With `key`, the signature of the index's bytes goes up after it (under the same lock);
    without, a signature an earlier publish left is deleted: it signs another index, which it
    would still name as signed by its key."""
    folder = remote.local_folder()
    held = (
        waiting_lock(folder / INDEX_LOCK, f"the index lock of {remote.url}", 3600)
        if folder is not None
        else contextlib.nullcontext()
    )
    with held:
        fresh, unreadable = _previous(remote, force)
        base = old if unreadable or fresh == old else fresh
        if base is not old:
            _moved(remote, base, tags, force)
        published = now_iso()
        versions = {**base["versions"], **ours}
        data = dump_index({**base["tags"], **tags}, versions, published)
        remote.put(INDEX, data)
        if key is not None:
            remote.put(INDEX + SIG_SUFFIX, sign_index(key, data))
        else:
            remote.remove(INDEX + SIG_SUFFIX)
    return published


def publish(
    store: Store,
    dest: str,
    refs: list[str] | None = None,
    *,
    force: bool = False,
    timeout: float = 30.0,
    retries: int = RETRIES,
    progress: Progress | None = None,
    sign: str | os.PathLike[str] | None = None,
    passphrase: Passphrase = None,
) -> dict[str, Any]:
    """Publish versions `refs` (tags, ids or prefixes; all when empty) with their text versions
    and tags to `dest`. `force` lets them move a tag the remote points elsewhere; `retries`
    is how often each request that failed in passing (a dropped connection, a timeout, a 5xx)
    is tried again, with backoff, as in `pull`; `sign` (a key file of `genekb keys new`) signs
    the index (`genekb.store.signing`), an encrypted key decrypted with `passphrase` (bytes, or
    a callable asked only then); without `sign`, an earlier signature is deleted."""
    start = time.perf_counter()
    key = load_private(Path(sign), passphrase) if sign is not None else None  # before uploads
    remote = Remote(dest, timeout=timeout, retries=retries, progress=progress)
    folder = remote.local_folder()
    store_root = inside_a_store(folder / INDEX) if folder is not None else None
    if store_root is not None:  # its files would land among the versions and damage them
        raise GenekbError(
            f"{remote.url} is inside the genekb store {store_root}; publish to a folder outside"
            " its texts/, embeddings/ and other folders of its own"
        )
    # An HTTP remote (read-only) or an unreachable one fails here, before any work.
    own = {INDEX, INDEX_LOCK, INDEX_LOCK + HOLDER_SUFFIX, INDEX + SIG_SUFFIX, *KIND_DIRS.values()}
    if remote.size(INDEX) is None and remote.is_other_folder(own):
        raise UsageError(
            f"{remote.url} is not a genekb remote (no {INDEX}) and is not empty; publish to a new"
            " folder or to an existing remote"
        )
    versions, tags = _chosen(store, list(refs or []))
    for v in versions:
        v.check()  # never publish damaged bytes
    old, notes = _previous(remote, force)
    moved = _moved(remote, old, tags, force)
    counts, ours = _upload(remote, versions, old)
    published = _write_index(remote, old, tags, ours, force, key)
    return {
        "remote": remote.url,
        "versions": [v.id for v in versions],
        "tags": sorted(tags),
        "moved_tags": moved,
        **counts,
        "published": published,
        "signed_by": key_fingerprint(key) if key is not None else None,
        "seconds": round(time.perf_counter() - start, 3),
        "notes": notes,
    }
