"""Errors a user can act on: the CLI prints the message on one line and exits with `exit_code`."""

from __future__ import annotations

import inspect
import numbers
import warnings
from collections.abc import Iterable


class GenekbError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""

    exit_code = 1


class UsageError(GenekbError):
    """Bad usage: an unknown name, an option out of range (exit code 2)."""

    exit_code = 2


def check_whole(value: object, name: str, minimum: int = 1) -> None:
    """`value` a whole number ≥ `minimum` (numpy's too): a float or a string failed deep inside
    NumPy or Python ("'<=' not supported"), and True counted as 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise UsageError(f"{name}={value!r} must be a whole number, at least {minimum}")


class UnknownNameError(UsageError):
    """A registry lookup that failed; the message lists the choices."""

    def __init__(self, kind: str, name: str, choices: list[str]) -> None:
        super().__init__(f"unknown {kind} {name!r}; choose one of: {', '.join(sorted(choices))}")
        self.kind, self.name, self.choices = kind, name, choices


class IntegrityError(GenekbError):
    """A file whose bytes do not match their recorded hash, or a manifest that cannot be read."""


class GenekbWarning(UserWarning):
    """Something a user should see on an otherwise successful run (the CLI prints one line)."""


class DamagedVersionWarning(GenekbWarning):
    """A damaged version was skipped; the others stay usable."""


# The project's packages: a warning issued inside them is shown at the first line outside; the
# `with` blocks they open pass through contextlib, which is no one's line either.
LIBRARY_PACKAGES = frozenset({"genekb", "cellmodel", "contextlib"})


def warn(message: str | Warning, category: type[Warning] = GenekbWarning) -> None:
    """`warnings.warn` shown at the user's own line (a notebook cell, a script, the command's
    shell), however deep inside genekb and cellmodel it was issued and through whichever door
    (`cm.tl`, `cm.pp`, `cm.pl`, the library): a fixed `stacklevel` pointed at the library's own
    files for every door but one. Python 3.12's `skip_file_prefixes`, by package, on 3.10 too."""
    frame = inspect.currentframe()
    frame = frame.f_back if frame is not None else None  # the caller's frame: stacklevel 2
    level = 2
    while frame is not None and frame.f_back is not None and _in_library(frame):
        frame, level = frame.f_back, level + 1
    if isinstance(message, Warning):
        warnings.warn(message, stacklevel=level)
    else:
        warnings.warn(message, category, stacklevel=level)


def _in_library(frame: object) -> bool:
    name = str(getattr(frame, "f_globals", {}).get("__name__", ""))
    return name.partition(".")[0] in LIBRARY_PACKAGES


def notes_of(exc: BaseException) -> str:
    """The notes code added to `exc` on its way up (`add_note`), each after "; ", for the end
    of its one-line message: e.g. a failed build's word on the text version it keeps."""
    return "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))


def add_note(exc: BaseException, note: str) -> None:
    """`exc.add_note(note)`, on Python 3.10 too (which lacks the method but keeps the list)."""
    exc.__notes__ = [*getattr(exc, "__notes__", ()), note]  # type: ignore[attr-defined]


# C0 and C1 control characters but tab and newline, as escapes, for names from files quoted in a
# message or a report: a hostile gene name may hold an ESC sequence that would drive the terminal.
CONTROL_ESCAPES = {c: f"\\x{c:02x}" for c in [*range(32), *range(0x7F, 0xA0)] if c not in (9, 10)}


def is_newer_format(found: object, expected: str) -> bool:
    """Whether the recorded format `found` is a later "family/N" of `expected`'s family: a file
    a newer genekb wrote, which this one must refuse without calling it damaged."""
    family, _, number = expected.rpartition("/")
    if not isinstance(found, str):
        return False
    found_family, _, found_number = found.rpartition("/")
    digits = found_number.isascii() and found_number.isdigit()
    return found_family == family and digits and int(found_number) > int(number)


def format_words(found: object, expected: str) -> str:
    """A refusal's words for the recorded format `found` where `expected` was looked for: a newer
    genekb's says to keep the file and upgrade; anything else is not genekb's."""
    if is_newer_format(found, expected):
        return (
            f"format {found!r}, written by a newer genekb (this one reads {expected}); keep it"
            " and upgrade genekb (pip install -U genekb-cellmodel)"
        )
    return f"format {found!r}, not {expected}"


def listed(items: Iterable[object], at_most: int = 10) -> str:
    """The first `at_most` of `items` for a one-line message, and how many there are where
    that is more: "A, B, C … (12 in all)"."""
    names = [str(item) for item in items]
    more = f" … ({len(names):,} in all)" if len(names) > at_most else ""
    return ", ".join(names[:at_most]) + more
