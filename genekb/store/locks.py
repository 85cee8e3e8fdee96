"""A store's file locks, which say when they wait and for whom: a second writer used to sit
silent for up to an hour behind the first, then said only "another process".

The lock is an flock, which the system lets go when its holder dies (a kill -9 too), so a lock
left by a killed process never blocks. Beside it, `<name>.lock.holder` says which process holds
it, for the messages of those that wait; it is removed before the lock is let go."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from genekb.errors import CONTROL_ESCAPES, GenekbError
from genekb.fileio import pid_alive
from genekb.progress import notice
from genekb.store.remote_urls import shown
from genekb.store.store_root import NOT_WRITABLE, PLACE_TAKEN, not_writable, place_taken


@contextlib.contextmanager
def waiting_lock(path: Path, what: str, timeout: float) -> Iterator[FileLock]:
    """Hold the lock file at `path` (`what` names it in messages): at once where it is free;
    else after one line saying whose turn it waits for, and a GenekbError after `timeout` s."""
    held = FileLock(str(path), timeout=timeout)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        held.acquire(timeout=0)
    except Timeout:
        notice(f"waiting for {what}: {holder(path)} is writing there (at most {timeout:,.0f} s)")
        try:
            held.acquire(timeout=timeout)
        except FileNotFoundError:  # the holder took back the new store it failed to write
            raise GenekbError(
                f"{path.parent} was removed while waiting for {what} (a first write into a new"
                " store, which failed, removes it); run the command again"
            ) from None
        except Timeout:
            raise GenekbError(
                f"{what} stayed held for {timeout:,.0f} s; let {holder(path)} finish, or"
                f" remove {path} if no genekb process is running"
            ) from None
    except OSError as exc:  # said "File exists" or "Read-only file system", and no way out
        if exc.errno in NOT_WRITABLE:
            raise not_writable(path, exc) from None
        if exc.errno not in PLACE_TAKEN:
            raise
        raise place_taken(Path(exc.filename or path), f"its locks ({what})") from None
    card = _holder_file(path)
    with contextlib.suppress(OSError):  # only words for others' messages: never a failure
        card.write_text(f"{os.getpid()} {socket.gethostname()} {_command()}\n")
    try:
        yield held
    finally:
        with contextlib.suppress(OSError):
            card.unlink()
        held.release()


HOLDER_SUFFIX = ".holder"  # `<name>.lock.holder`: one a killed holder left is no one's data


def _holder_file(path: Path) -> Path:
    return path.with_name(path.name + HOLDER_SUFFIX)


def _command() -> str:
    """This process's command line, short and on one line (`genekb import x.tar`), a URL's
    password or token as *** (the card is readable by every user of a shared store)."""
    words = (
        [Path(sys.argv[0]).name, *map(shown, sys.argv[1:])]
        if sys.argv and sys.argv[0]
        else ["python"]
    )
    line = " ".join(words).translate(CONTROL_ESCAPES)
    return line if len(line) <= 80 else line[:79] + "…"


def holder(path: Path) -> str:
    """Who holds the lock at `path`, as its holder file says: "process 123 (genekb import
    x.tar)", with its host where that is another; "another process" where it says nothing
    (an older genekb, or the holder about to write it) or names one that no longer runs."""
    try:
        pid, host, command = _holder_file(path).read_text()[:1000].strip().split(" ", 2)
    except (OSError, UnicodeDecodeError, ValueError):
        return "another process"
    if not pid.isdigit():
        return "another process"
    here = host == socket.gethostname()
    if here and not pid_alive(int(pid)):
        return "another process"
    where = "" if here else f" on {host}"
    return f"process {pid}{where} ({command.translate(CONTROL_ESCAPES)})"


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


def stale_cards(folder: Path) -> list[Path]:
    """The holder cards under `folder` that no holder stands behind: their lock is free and the
    process they name no longer runs here (a holder killed before it could remove its card).
    A card naming a live process, or one on another host, is kept: it may be a holder's own."""
    cards = sorted(folder.glob(f"*.lock{HOLDER_SUFFIX}")) if folder.is_dir() else []
    busy = set(held_by_others(folder)) if cards else set()
    return [
        card
        for card in cards
        if card.name.removesuffix(f".lock{HOLDER_SUFFIX}") not in busy
        and holder(card.with_name(card.name.removesuffix(HOLDER_SUFFIX))) == "another process"
    ]
