"""Taking versions out of a store: the ones named (`genekb rm`), and what nothing needs any more
(`genekb gc`): text versions no embedding version rests on, staging folders and temporary files
of writers that no longer run, and `.verified/` records of versions that are gone.

Crash-safe by order: the catalog is rewritten without a version first, then the tags that
point at it go, then the version leaves its place by one rename into a staging folder of this
process (`.staging/<pid>-rm-…`), and only there are its files deleted. A removal killed at any
step leaves a store `genekb verify` passes (a catalog behind the store is no damage, and the
next writer or `gc` clears a dead process's staging folder). A link is removed as a link, never
followed. Both take the tags lock for their whole run and refuse to start while another process
writes into the store, so a build, import or pull cannot interleave with the removal.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, IntegrityError, UsageError, add_note, listed, warn
from genekb.fileio import left_by_dead_process, pid_alive, read_regular
from genekb.output_paths import STORE_OWNED
from genekb.store import catalog
from genekb.store.integrity import VERIFIED_DIR
from genekb.store.locks import held_by_others, holder, stale_cards
from genekb.store.manifest import MANIFEST, MANIFEST_LIMIT
from genekb.store.pull_cache import PULL_CACHE
from genekb.store.store import EMBEDDINGS, TEXTS, Store
from genekb.store.tag_edits import write_tags

VERSION_ID = re.compile(r"\b(?:txt|emb)-[0-9a-f]{16}\b")
# A writer's temporary file beside the file it replaces: `.<name>.<pid>-<rand>.tmp[.wal]`.
TEMP_FILE = re.compile(r"\.(?P<name>.+)\.(?P<label>\d+-[0-9a-f]{8})\.tmp(?:\.wal)?")
OWN_FOLDERS = (TEXTS, EMBEDDINGS, ".staging", VERIFIED_DIR)


def tree_bytes(path: Path) -> int:
    """Bytes of the files under `path` (a link counts as itself: none is followed)."""
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size if os.path.lexists(path) else 0
    total = 0
    for folder, _, files in os.walk(path, followlinks=False):
        total += sum(os.lstat(os.path.join(folder, name)).st_size for name in files)
    return total


def _delete(path: Path) -> None:
    if not os.path.lexists(path):
        return  # a writer's own clearing of stale staging came first
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def needs(store: Store) -> tuple[dict[str, set[str]], list[str]]:
    """(version id -> the embedding versions that rest on it, embedding versions whose manifest
    cannot be read). An embedding rests on its text version and, for a multi-view version, on
    its views: every version id its manifest names. Read as text, so a damaged manifest counts."""
    ids = set(store.version_ids("text")) | set(store.version_ids("embedding"))
    found: dict[str, set[str]] = {}
    unread = []
    for eid in store.version_ids("embedding"):
        folder = store.version_dir("embedding", eid)
        try:
            if folder.is_symlink():
                raise GenekbError("a link, not a version")
            raw = read_regular(folder / MANIFEST, MANIFEST_LIMIT, follow=False).decode()
        except (OSError, GenekbError, UnicodeDecodeError):
            unread.append(eid)
            continue
        for vid in set(VERSION_ID.findall(raw)) & ids - {eid}:
            found.setdefault(vid, set()).add(eid)
    return found, unread


def _refuse_links(store: Store) -> None:
    for name in OWN_FOLDERS:
        if (store.root / name).is_symlink():
            raise GenekbError(
                f"{store.root / name} is a symbolic link; nothing is removed through a link out"
                " of the store (make it a folder of the store, then run again)"
            )


def _turn(store: Store, dry_run: bool) -> contextlib.AbstractContextManager[Any]:
    """The tags lock, held through a removal; a dry run in a store this process may only read
    (a read-only mount, another user's) looks without it: no lock file can be made there, and
    `--dry-run` was refused for want of one, though a look changes nothing."""
    locks = store.root / "locks"
    if dry_run and not os.access(locks if locks.is_dir() else store.root, os.W_OK):
        return contextlib.nullcontext()
    return store.lock("tags")


def _refuse_busy(store: Store, command: str) -> None:
    """GenekbError while another process writes here: a lock held (a build's version, a pull,
    the catalog), or a staging folder of a writer that runs."""
    locks = store.root / "locks"  # each named with who holds it, which the user may wait for
    busy = [f"{n}, by {holder(locks / f'{n}.lock')}" for n in held_by_others(locks) if n != "tags"]
    staging = store.root / ".staging"
    for entry in sorted(staging.iterdir()) if staging.is_dir() else []:
        pid = entry.name.split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and pid_alive(int(pid)):
            busy.append(f".staging/{entry.name}")
    if busy:
        raise GenekbError(
            f"another process is writing into {store.root} ({listed(busy, 3)}); run `genekb"
            f" {command}` again once it has finished (nothing was removed)"
        )


def _resolve(store: Store, ref: str) -> tuple[str, str]:
    """(kind, id) of an embedding version (id, tag or unique prefix), else a text version; only
    the directories are looked at, so a damaged version can be named and removed."""
    try:
        return "embedding", store.resolve("embedding", ref)
    except UsageError:
        raise
    except GenekbError as exc:
        first = exc
    try:
        return "text", store.resolve("text", ref)
    except UsageError:
        raise
    except GenekbError:  # the embedding kind's words, which list the tags, for either kind
        raise GenekbError(str(first).replace("no embedding version", "no version", 1)) from None


def _refuse_needed(
    targets: dict[str, str], found: dict[str, set[str]], unread: list[str]
) -> None:
    """GenekbError naming a version that rests on one of `targets` and is not removed with it."""
    for vid, kind in targets.items():
        left = sorted(_resting_on(vid, found) - set(targets))
        if len(left) == 1:
            what = "its text version" if kind == "text" else "one of its views"
            raise GenekbError(
                f"{left[0]} rests on {vid} ({what}); remove both (`genekb rm {left[0]} {vid}`)"
                f" or keep {vid}"
            )
        if left:  # every one named: a command naming one of them would be refused again
            raise GenekbError(
                f"{len(left)} versions rest on {vid} ({listed(left, 4)}); remove them with it"
                f" (`genekb rm {' '.join(left)} {vid}`) or keep {vid}"
            )
        unknown = sorted(set(unread) - set(targets))
        if unknown:
            raise GenekbError(
                f"cannot tell whether {unknown[0]} rests on {vid}: its manifest cannot be read;"
                f" remove it first (`genekb rm {unknown[0]}`), or repair it"
            )


def _resting_on(vid: str, found: dict[str, set[str]]) -> set[str]:
    """Every version that rests on `vid`, directly or through another (a view's combination)."""
    seen: set[str] = set()
    todo = [vid]
    while todo:
        for other in found.get(todo.pop(), set()) - seen:
            seen.add(other)
            todo.append(other)
    return seen - {vid}


def _in_removal_order(targets: dict[str, str], found: dict[str, set[str]]) -> list[str]:
    """`targets`, each after every target resting on it: a stop between two renames never
    leaves a version without what it rests on."""
    order: list[str] = []
    todo = list(targets)
    while todo:
        ready = [v for v in todo if not (found.get(v, set()) & set(todo))]
        ready = ready or todo[:1]  # a cycle cannot arise from hashed ids; never loop on one
        order += ready
        todo = [v for v in todo if v not in ready]
    return order


def _entry(store: Store, kind: str, path: Path, vid: str | None = None) -> dict[str, Any]:
    return {"kind": kind, "id": vid, "path": str(path.relative_to(store.root)),
            "bytes": tree_bytes(path)}  # fmt: skip


def _drop_catalog(store: Store, exc: catalog.CatalogWriteError) -> None:
    """Remove the catalog that could not be rewritten without the versions about to go (a full
    disk, `ulimit -f`): it would name their files once they are gone, and it is derived. `rm`
    is how a full disk is freed, and it was refused for want of room for the catalog."""
    target = store.root / catalog.CATALOG_FILE
    if target.is_dir():  # a folder in its place is not the store's to remove: say so
        add_note(exc, "nothing was removed")
        raise exc
    with store.lock("catalog"):
        had = target.exists()
        target.unlink(missing_ok=True)
    reason = exc.reason.partition(";")[0]
    done = f"removed the catalog {target}, which" if had else f"the catalog {target}"
    warn(f"{done} could not be rewritten ({reason}); `genekb reindex` writes it again once"
         " there is room")  # fmt: skip


def take_out(
    store: Store, versions: Sequence[tuple[str, str]], tags: dict[str, str] | None = None
) -> None:
    """Remove `versions` ((kind, id), in order): the catalog rewritten without them, `tags` (the
    tags left, where some pointed at them) written, each version renamed into a staging folder
    of this process, then the folder deleted."""
    if not versions:
        return
    try:  # first: a catalog naming files gone would be damage, one behind the store is not
        catalog.rebuild(store, leaving=frozenset(v for _, v in versions))
    except catalog.CatalogWriteError as exc:  # only a write that failed: other errors stop rm
        _drop_catalog(store, exc)
    if tags is not None:  # before the renames: a stop leaves versions untagged, no tag dangling
        write_tags(store, tags)
    folder = store.staging_dir("rm-")
    try:
        for kind, vid in versions:
            os.rename(store.version_dir(kind, vid), folder / f"{kind}-{vid}")
        for _, vid in versions:
            (store.root / VERIFIED_DIR / f"{vid}.json").unlink(missing_ok=True)
        delete_staged(folder)
    except OSError as exc:
        raise GenekbError(
            f"cannot remove {exc.filename or folder}: {exc.strerror}; what was renamed out is"
            f" no longer in the store, and `genekb gc` deletes {folder} once this process ends"
        ) from None
    store.remove_staging_dir(folder)


def delete_staged(folder: Path) -> None:
    """Delete a removal's staging folder (the files leave the disk here)."""
    shutil.rmtree(folder)


def remove(
    store: Store, refs: Sequence[str], *, force: bool = False, dry_run: bool = False
) -> dict[str, Any]:
    """Remove the versions `refs` name (ids, unique id prefixes, tags). Refused while a tag
    points at one, unless `force` (which deletes those tags), and while another version rests
    on one (its text version, a view of a multi-view version). Returns what was removed."""
    refs = [refs] if isinstance(refs, str) else list(refs)
    if not refs:
        raise UsageError("name the versions to remove: ids, unique id prefixes or tags")
    with _turn(store, dry_run):
        _refuse_links(store)
        _refuse_busy(store, "rm")
        targets = {vid: kind for kind, vid in (_resolve(store, ref) for ref in refs)}
        tags = store.tags()
        held = {t: v for t, v in sorted(tags.items()) if v in targets}
        if held and not force:
            tag, vid = next(iter(held.items()))
            raise GenekbError(
                f"tag {tag!r} points at {vid}; pass --force to remove it with its tags, or move"
                f" the tag first (`genekb tag {tag} VERSION --force`)"
            )
        found, unread = needs(store)
        _refuse_needed(targets, found, unread)
        order = [(targets[v], v) for v in _in_removal_order(targets, found)]
        removed = [_entry(store, k, store.version_dir(k, v), v) for k, v in order]
        if not dry_run:
            kept = {t: v for t, v in tags.items() if t not in held}
            take_out(store, order, kept if held else None)
    return _report(removed, dry_run, tags_removed=held)


def _report(removed: list[dict[str, Any]], dry_run: bool, **more: Any) -> dict[str, Any]:
    return {"removed": removed, "bytes_freed": sum(e["bytes"] for e in removed),
            "dry_run": dry_run, **more}  # fmt: skip


def _record(name: str) -> str | None:
    """The version id a `.verified/` file name records (`<id>.json`), else None."""
    vid = name.removesuffix(".json")
    return vid if name.endswith(".json") and VERSION_ID.fullmatch(vid) else None


def _debris(store: Store, ids: set[str]) -> list[dict[str, Any]]:
    """Staging folders, temporary files and lock holder cards of writers that no longer run,
    and check records of versions the store no longer holds (`ids`: those it keeps)."""
    found = [_entry(store, "lock card", card) for card in stale_cards(store.root / "locks")]
    staging = store.root / ".staging"
    for entry in sorted(staging.iterdir()) if staging.is_dir() else []:
        if entry.name != PULL_CACHE and left_by_dead_process(entry.name):
            found.append(_entry(store, "staging", entry))
    records = store.root / VERIFIED_DIR
    for folder, owned in ((store.root, STORE_OWNED.__contains__), (records, _record)):
        for entry in sorted(folder.iterdir()) if folder.is_dir() else []:
            temp = TEMP_FILE.fullmatch(entry.name)  # of a file of the store's own, by its name
            if temp and owned(temp["name"]) and left_by_dead_process(temp["label"]):
                found.append(_entry(store, "temporary", entry))
            elif folder == records and not temp and _record(entry.name) not in (None, *ids):
                found.append(_entry(store, "record", entry, _record(entry.name)))
    return found


def collect_garbage(store: Store, *, dry_run: bool = False) -> dict[str, Any]:
    """Remove what nothing needs: text versions no embedding version rests on, staging folders
    and temporary files of writers that no longer run, check records of removed versions.
    Embedding versions stay (name them to `remove`); those no tag points at are listed."""
    with _turn(store, dry_run):
        _refuse_links(store)
        _refuse_busy(store, "gc")
        found, unread = needs(store)
        notes = []
        if unread:
            notes.append(
                f"kept every text version: the manifest of {listed(unread, 3)} cannot be read, so"
                " what it rests on is unknown (`genekb verify` names the damage)"
            )
        texts = [] if unread else [t for t in store.version_ids("text") if t not in found]
        versions = [("text", t) for t in texts]
        ids = set(store.version_ids("text")) | set(store.version_ids("embedding"))
        removed = [_entry(store, "text", store.version_dir("text", t), t) for t in texts]
        debris = _debris(store, ids)  # the texts' own records go with them (`take_out`)
        try:
            tagged = set(store.tags().values())
        except IntegrityError as exc:  # the tags are not gc's to judge: it says so and goes on
            tagged, notes = set(), [*notes, str(exc)]
        untagged = [e for e in store.version_ids("embedding") if e not in tagged]
        cache = store.root / ".staging" / PULL_CACHE
        if cache.is_dir() and not cache.is_symlink():
            notes.append(
                f"{tree_bytes(cache):,} bytes of downloads wait in {cache} for a pull to resume;"
                " `genekb pull URL --clear-cache` (the remote they came from) drops them"
            )
        if not dry_run:
            take_out(store, versions)
            for entry in debris:
                _delete(store.root / entry["path"])
            with contextlib.suppress(OSError):
                (store.root / ".staging").rmdir()  # only when empty
    return _report(removed + debris, dry_run, untagged=untagged, notes=notes)
