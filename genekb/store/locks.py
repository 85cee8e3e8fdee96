"""A store's file locks, which say when they wait: a second writer used to sit silent for up to
an hour behind the first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from genekb.errors import GenekbError
from genekb.progress import notice
from genekb.store.store_root import PLACE_TAKEN, place_taken


@contextlib.contextmanager
def waiting_lock(path: Path, what: str, timeout: float) -> Iterator[FileLock]:
    """Hold the lock file at `path` (`what` names it in messages): at once where it is free;
    else after one line saying whose turn it waits for, and a GenekbError after `timeout` s."""
    held = FileLock(str(path), timeout=timeout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        held.acquire(timeout=0)
    except Timeout:
        notice(f"waiting for {what}: another process is writing there (at most {timeout:,.0f} s)")
        try:
            held.acquire(timeout=timeout)
        except FileNotFoundError:  # the holder took back the new store it failed to write
            raise GenekbError(
                f"{path.parent} was removed while waiting for {what} (a first write into a new"
                " store, which failed, removes it); run the command again"
            ) from None
        except Timeout:
            raise GenekbError(
                f"{what} stayed held for {timeout:,.0f} s; let the other process finish, or"
                f" remove {path} if no genekb process is running"
            ) from None
    except OSError as exc:  # said "File exists" or "Is a directory", and nothing of a way out
        if exc.errno not in PLACE_TAKEN:
            raise
        raise place_taken(Path(exc.filename or path), f"its locks ({what})") from None
    try:
        yield held
    finally:
        held.release()


def held_by_others(folder: Path) -> list[str]:
    """The locks under `folder` another process holds now (a write under way), by name. Each is
    tried without waiting and let go at once (flock: this process's other holds are untouched)."""
    held = []
    for path in sorted(folder.glob("*.lock")) if folder.is_dir() else []:
        lock = FileLock(str(path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            held.append(path.stem)
        except OSError:  # unreadable or read-only: no sign either way
            continue
        else:
            lock.release()
    return held
