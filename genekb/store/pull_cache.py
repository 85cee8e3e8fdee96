"""Where a pull's downloads wait: `<root>/.staging/pull-cache/`, kept across runs so that a pull
resumes, and the one lock that makes two pulls into one store take turns.

A file arrives as `<id>/<name>.part` and becomes `<id>/<name>` once it matches the index
(`genekb.store.pull`). Versions being checked sit in a folder named for the checking process
(`checking-<pid>-…`), so that a pull killed while checking leaves them for a rerun to take back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path

from genekb.fileio import pid_alive
from genekb.store.remote_index import KIND_DIRS
from genekb.store.store import Store

PULL_CACHE = "pull-cache"  # under .staging/; not a pid name, so no writer clears it as stale
CHECKING = "checking-"  # + pid: a pull cache's folder of versions being checked (`install`)
# One pull (or fetch of `Store.open(URL)`) into a store at a time, from choosing what is missing
# to the tags: two at once took each other's downloads from under one another (a file "not
# found on the remote", a version "taken by a concurrent pull") and each refused.
PULL_LOCK = "pull"


def cache_path(store: Store) -> Path:
    """Where downloads wait until installed (kept across runs, so a pull resumes)."""
    return store.root / ".staging" / PULL_CACHE


def open_cache(store: Store) -> Path:
    store._materialize()
    folder = cache_path(store)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def drop_if_empty(cache: Path) -> None:
    """The pull cache and .staging/ once nothing waits in them (another writer's stay)."""
    for folder in (cache, cache.parent):
        with contextlib.suppress(OSError):
            folder.rmdir()  # only when empty


def holds_bytes(folder: Path) -> bool:
    return folder.is_dir() and any(p.is_file() and p.stat().st_size for p in folder.rglob("*"))


def checking_dir(cache: Path) -> Path:
    """Where `install` checks versions: in the pull cache, named for this process, so that a
    pull killed while checking (kill -9, a power cut) leaves its downloads where a rerun finds
    them (`recover_checking`); a staging folder of its own was cleared as stale, and the
    rerun fetched every file again."""
    folder = cache / f"{CHECKING}{os.getpid()}-{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    return folder


def recover_checking(cache: Path) -> None:
    """Move the versions a killed pull was checking back into the cache, for `download` to
    check each file against the index again (a wrong one is fetched again) and reuse the rest."""
    for entry in cache.glob(f"{CHECKING}*"):
        pid = entry.name.removeprefix(CHECKING).split("-", 1)[0]
        if not pid.isdigit() or pid_alive(int(pid)):
            continue
        for folder in (entry / kind_dir for kind_dir in KIND_DIRS.values()):
            for version in folder.iterdir() if folder.is_dir() else ():
                with contextlib.suppress(OSError):  # one already back (a concurrent rerun)
                    os.rename(version, cache / version.name)
        shutil.rmtree(entry, ignore_errors=True)


def clear_cache(store: Store) -> None:
    """Drop every partial or unpublished download (`genekb pull --clear-cache`), after any pull
    under way: its files are not this command's to take. A root that holds no store yet has none
    to drop, and gets no store from asking."""
    if store.is_new:
        return
    with store.lock(PULL_LOCK):
        shutil.rmtree(cache_path(store), ignore_errors=True)
