"""`genekb pull`: fetch the versions a remote holds and this store lacks, verified, resumable.

1. The index (`genekb.store.remote_index`) is fetched and checked; tags that would move a local
   tag are refused (without `--force`) before any other request.
2. Each missing version's files are downloaded into `<root>/.staging/pull-cache/<id>/`: a file
   arrives as `<name>.part` (a rerun resumes it with a `Range` request) and becomes `<name>`
   only once its size and sha256 match the index. A rerun after an interruption fetches only
   what is not yet there.
3. The complete versions move into a folder of the pull cache named for this process (a rerun
   after a kill takes them back and re-hashes each file) and get every check `genekb
   import` makes (manifest self-hash, id recomputed, files against the manifest, no unlisted
   file, content id recomputed from the data), plus the content id the index claimed and
   `--expect`; then they are renamed into the store under the tags lock, and the tags set.
   Nothing is visible to a reader before all of it passed.
4. Two pulls into one store take turns (`genekb.store.pull_cache.PULL_LOCK`): the second
   decides what is missing once the first is done.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.fileio import check_room, sha256_file
from genekb.output_paths import STORE_MARKER
from genekb.store import integrity
from genekb.store.content import CONTENT_KEY
from genekb.store.ids import ambiguous, prefix_matches, short_prefix_note
from genekb.store.new_store import new_store_undo
from genekb.store.pull_cache import (
    PULL_LOCK,
    cache_path,
    checking_dir,
    drop_if_empty,
    holds_bytes,
    open_cache,
    recover_checking,
)
from genekb.store.remote_index import INDEX, KIND_DIRS, parse_index, path_of
from genekb.store.remote_io import (
    LASTING_ERRNOS,
    RETRIES,
    CutShort,
    NotFound,
    Remote,
    RemoteError,
)
from genekb.store.sharing import (
    COMPRESSED,
    check_expected,
    check_staged,
    publish_tagged,
    staged_text_dir,
)
from genekb.store.signing import SIG_SUFFIX, public_key, remote_signer
from genekb.store.store import Store

ProgressFactory = Callable[[int], Callable[[int], None]]  # total bytes -> per-chunk callback


def fetch_index(remote: Remote) -> dict[str, Any]:
    """The remote's index, checked (IntegrityError, or a RemoteError if it cannot be had)."""
    return read_index(remote)[1]


def read_index(remote: Remote) -> tuple[bytes, dict[str, Any]]:
    """The remote's index: its bytes as read (what a signature covers) and its checked fields."""
    try:
        data = remote.read(INDEX)
    except RemoteError as exc:
        misnamed = _misnamed(remote)  # it read "a file where a folder must be", or "no remote"
        if misnamed:
            raise RemoteError(f"{remote.url} {misnamed}") from None
        if not isinstance(exc, NotFound):
            raise
        folder = remote.local_folder()
        if folder is not None and not folder.exists():  # "host:8000/x" is read as a folder
            hint = ""
            if "://" not in remote.url and re.search(r"[:.]", remote.url.split("/", 1)[0]):
                hint = f"; for a web server, write http://{remote.url}"
            raise NotFound(f"{remote.url}: no such folder{hint}") from None
        if folder is not None and (folder / STORE_MARKER).is_file():
            raise NotFound(
                f"{remote.url} is a genekb store, not a published one (no {INDEX}): read it as"
                f" --root {folder} (a path, not a URL), or publish it first (`genekb publish"
                f" FOLDER --root {folder}`) and pull from FOLDER"
            ) from None
        raise NotFound(
            f"{remote.url} is no genekb remote (no {INDEX} there); check the URL: a remote is"
            " the folder or URL `genekb publish` wrote to"
        ) from None
    return data, parse_index(data, remote.where(INDEX))


def _misnamed(remote: Remote) -> str | None:
    """What the remote's URL names instead of a published store's folder, and what to do: an
    export's tar file, or the index itself (its URL copied from a browser); None otherwise."""
    folder = remote.local_folder()
    if folder is not None and not folder.is_file():
        return None
    path = remote.url.split("?", 1)[0]
    if path.lower().endswith((".tar", *COMPRESSED)):
        return (
            "is an export file (`genekb export`), not a published store; import it with"
            " `genekb import FILE` (download it first if it is on a server)"
        )
    head, _, last = path.rpartition("/")
    if last in (INDEX, INDEX + SIG_SUFFIX):
        return f"is a remote's index file; give the folder or URL it lies in: {head or '.'}"
    return None


def select(index: dict[str, Any], refs: list[str]) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """([(kind, id)] the refs need, texts first; {tag: id} to set). No refs: everything."""
    versions, tags = index["versions"], index["tags"]
    if not refs:
        chosen = list(versions)
        changes = dict(tags)
    else:
        chosen, changes = [], {}
        for ref in refs:
            if ref in tags:
                chosen.append(tags[ref])
                changes[ref] = tags[ref]
                continue
            matches = prefix_matches(ref, versions)
            if len(matches) > 1:  # said "the remote has no tag or version"
                raise ambiguous(ref, sorted(matches), "versions on the remote")
            if not matches:
                known = ", ".join(sorted(tags)) or "none"
                note = short_prefix_note(ref, versions)
                raise GenekbError(
                    f"the remote has no tag or version {ref!r}{note}; its tags: {known}"
                )
            chosen.append(matches[0])
    needed = set(chosen)
    needed |= {versions[v]["text_id"] for v in chosen if versions[v]["kind"] == "embedding"}
    plan = sorted(((versions[v]["kind"], v) for v in needed), key=lambda kv: (kv[0] != "text", kv))
    return plan, changes


def pull(
    store: Store,
    url: str,
    refs: list[str] | None = None,
    *,
    expect: str | None = None,
    force: bool = False,
    timeout: float = 30.0,
    retries: int = RETRIES,
    progress: ProgressFactory | None = None,
    trust: list[str] | None = None,
) -> dict[str, Any]:
    """Fetch the versions `refs` (remote tags, ids or prefixes; all when empty) need into
    `store`, and set their tags. `force` lets a remote tag move a local one; `expect` (a
    content sha256 or 12+ digit prefix) refuses the pull unless the chosen embedding holds it;
    `trust` (public keys: .pub files or `genekb-ed25519 …` lines) refuses it unless one of them
    signed the index (`genekb.store.signing`), checked before anything is written."""
    if expect is not None and not re.fullmatch(r"[0-9a-f]{12,64}", expect.lower()):
        raise UsageError(f"--expect {expect!r} is not a content sha256 (12 to 64 hex digits)")
    trusted = [public_key(spec) for spec in trust or []]
    start = time.perf_counter()
    remote = Remote(url, timeout=timeout, retries=retries)
    raw, index = read_index(remote)
    signed_by = remote_signer(remote, INDEX, raw, trusted)
    plan, changes = select(index, list(refs or []))
    if not force:
        store.refuse_moving(changes)
    was_new, undo = store.is_new, new_store_undo(store)
    turn = store.lock(PULL_LOCK) if plan or changes else contextlib.nullcontext()
    with turn:  # what is missing is decided after another pull into this store finished
        damaged, missing, counts, imported = _fetch_and_install(
            store, remote, index, plan, changes, force=force, expect=expect, progress=progress,
            undo=undo if was_new else None,
        )  # fmt: skip
    return {
        "remote": remote.url,
        "fetched": imported,
        "already_present": [v for k, v in plan if (k, v) not in missing],
        "repaired": [v for _, v in damaged],
        "tags": sorted(changes),
        "signed_by": signed_by,  # a key's fingerprint; one of `trust` when given
        "trusted": bool(trusted),
        **counts,
        "bytes_fetched": remote.fetched_bytes,
        "requests": remote.requests,
        "seconds": round(time.perf_counter() - start, 3),
    }


def _fetch_and_install(
    store: Store,
    remote: Remote,
    index: dict[str, Any],
    plan: list[tuple[str, str]],
    changes: dict[str, str],
    *,
    force: bool,
    expect: str | None,
    progress: ProgressFactory | None,
    undo: Callable[[], None] | None,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], dict[str, int], list[str]]:
    """`pull`'s work under the pull lock: (damaged, missing, counts, ids imported)."""
    # A damaged local copy is fetched again and replaces it (the remote's passes every check a
    # pull makes): it was "present", and the pull said all was well.
    damaged = [(k, v) for k, v in plan if store.has(k, v) and damaged_here(store, k, v)]
    missing = [(k, v) for k, v in plan if not store.has(k, v) or (k, v) in damaged]
    try:
        counts = download(store, remote, index, missing, progress)
        held = {
            v: store.version(v).manifest.get(CONTENT_KEY) for k, v in plan if (k, v) not in missing
        }
        imported = install(store, remote.url, index, missing, changes, force=force, expect=expect,
                           held=held, replace_damaged=bool(damaged))  # fmt: skip
    except BaseException as exc:
        # A transfer cut short keeps what it fetched, so a rerun resumes. Any other failure (a
        # refusal: wrong bytes, a file cut short at its source) drops this pull's downloads,
        # which no later pull should build on, and into a root that held no store leaves none.
        cache = cache_path(store)
        if not (_resumable(exc) and holds_bytes(cache)):
            for _kind, vid in missing:
                shutil.rmtree(cache / vid, ignore_errors=True)
            drop_if_empty(cache)
            if undo is not None:
                undo()
        raise
    return damaged, missing, counts, imported


def damaged_here(store: Store, kind: str, vid: str) -> bool:
    """Whether the store's copy of a version fails its manifest: one `stat` a file when its
    files were checked before and are unchanged (`integrity.check_files`), so a pull of what
    is already here stays two small requests (the index and its signature)."""
    path = store.root / KIND_DIRS[kind] / vid
    try:
        integrity.check_files(store.root, path, integrity.load_manifest(path, kind))
    except IntegrityError:
        return True
    return False


def _resumable(exc: BaseException) -> bool:
    """Ctrl-C, or a transfer that failed after its retries: a rerun continues it."""
    return isinstance(exc, (KeyboardInterrupt, CutShort))


def download(
    store: Store,
    remote: Remote,
    index: dict[str, Any],
    plan: list[tuple[str, str]],
    progress: ProgressFactory | None = None,
) -> dict[str, int]:
    """Every file of the versions in `plan` into the pull cache, each checked against the index;
    files already there and whole are not fetched again."""
    counts = {"files_fetched": 0, "files_reused": 0}
    if not plan:
        return counts
    cache = open_cache(store)
    recover_checking(cache)
    todo = []
    for kind, vid in plan:
        for name, meta in sorted(index["versions"][vid]["files"].items()):
            done = cache / vid / name
            if done.is_file():
                if done.stat().st_size == meta["bytes"] and sha256_file(done) == meta["sha256"]:
                    counts["files_reused"] += 1
                    continue
                done.unlink()  # damaged: `_fetch_file` would take it for a concurrent pull's
            todo.append((kind, vid, name, meta))
    total = sum(m["bytes"] for *_, m in todo)
    partial = sum(_size(cache / v / f"{n}.part") for _, v, n, _ in todo)
    largest = max((m["bytes"] for *_, m in todo), default=0)
    check_room(cache, total - partial, largest)  # before the first byte, not when it fills
    remote.progress = progress(total - partial) if progress and todo else None
    for kind, vid, name, meta in todo:
        (cache / vid).mkdir(exist_ok=True)
        with store.lock(f"pull-{vid}"):
            _fetch_file(remote, path_of(kind, vid, name), cache / vid / name, meta)
        counts["files_fetched"] += 1
    return counts


def _size(path: Path) -> int:
    return path.stat().st_size if path.is_file() else 0


def _fetch_file(remote: Remote, where: str, done: Path, meta: dict[str, Any]) -> None:
    """One file, resumed from its `.part`; renamed to `done` only when its size and sha256 match
    the index, else deleted (a wrong byte is not kept to be resumed from)."""
    if done.is_file():
        return  # a concurrent pull of the same version finished it
    part = done.with_name(done.name + ".part")
    resumed = _size(part) > 0
    try:
        remote.fetch(where, part, size=meta["bytes"])
    except NotFound as exc:  # fsspec's "not found" said nothing of the cause or what to do
        if remote.is_http:  # its own message says so
            raise
        raise NotFound(
            f"{remote.where(where)}: not found on the remote, though its index lists it; ask its"
            " publisher to publish again"
        ) from exc
    digest = sha256_file(part)
    if resumed and digest != meta["sha256"]:
        # The bytes kept from an earlier try may be the wrong ones: fetch the file whole once.
        part.unlink()
        remote.fetch(where, part, size=meta["bytes"])
        digest = sha256_file(part)
    size = part.stat().st_size
    if size != meta["bytes"] or digest != meta["sha256"]:
        part.unlink()
        what = "sha256" if size == meta["bytes"] else f"size ({size:,}, not {meta['bytes']:,})"
        raise IntegrityError(
            f"{remote.where(where)}: its {what} does not match the remote's index; refused, "
            "nothing changed here"
        )
    try:
        os.replace(part, done)
    except OSError as exc:  # a full disk: kept for a rerun, as when a write fills it
        if exc.errno not in LASTING_ERRNOS:
            raise
        raise CutShort(
            f"{done}: {exc.strerror}; free space or give a writable place, then run the command"
            " again (verified files are kept)"
        ) from None


def install(
    store: Store,
    source: str,
    index: dict[str, Any],
    plan: list[tuple[str, str]],
    changes: dict[str, str],
    *,
    force: bool = False,
    expect: str | None = None,
    held: dict[str, Any] | None = None,
    replace_damaged: bool = False,
) -> list[str]:
    """Check the downloaded versions in `plan` as `genekb import` does and rename them into the
    store with `changes` to its tags, all or nothing; the ids newly published."""
    if not plan and not changes:
        check_expected(source, dict(held or {}), [], expect)
        return []
    cache = open_cache(store)
    staging = checking_dir(cache)
    try:
        contents = dict(held or {})
        staged = []
        for kind, vid in plan:
            folder = staging / KIND_DIRS[kind]
            folder.mkdir(exist_ok=True)
            try:
                os.rename(cache / vid, folder / vid)
            except FileNotFoundError:  # a concurrent pull of the same version took it first
                if store.has(kind, vid):
                    continue
                raise GenekbError(f"{vid} was taken by a concurrent pull; run again") from None
            staged.append((KIND_DIRS[kind], vid))
            names = set(index["versions"][vid]["files"])
            fetched_texts = {v for k, v in staged if k == KIND_DIRS["text"]}
            text_dir = staged_text_dir(store, staging, KIND_DIRS[kind], vid, fetched_texts, source)
            _, content = check_staged(folder / vid, KIND_DIRS[kind], names, source, text_dir)
            claimed = index["versions"][vid][CONTENT_KEY]
            if content != claimed:
                raise IntegrityError(
                    f"{source}: {vid} holds content {content[:16]}…, not the "
                    f"{claimed[:16]}… the remote's index claims; refused"
                )
            contents[vid] = content
        every = [(KIND_DIRS[index["versions"][v]["kind"]], v) for v in contents]
        check_expected(source, contents, every, expect)
        imported, _present = publish_tagged(
            store, staging, staged, changes, force=force, replace_damaged=replace_damaged
        )
    except BaseException as exc:
        if _resumable(exc):  # Ctrl-C while checking: the files go back, for a rerun to reuse
            for kind, vid in plan:
                with contextlib.suppress(OSError):
                    os.rename(staging / KIND_DIRS[kind] / vid, cache / vid)
        raise
    finally:
        store.remove_staging_dir(staging)
    drop_if_empty(cache)
    return imported
