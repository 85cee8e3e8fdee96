"""What both command-line apps share: error reporting, JSON output, progress on stderr."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from genekb.errors import GenekbError, GenekbWarning, UsageError

err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    info(f"warning: {message}")


def handle_errors(fn: F) -> F:
    """Turn expected failures into one line on stderr and an exit code, never a traceback.

    Warnings meant for the user (GenekbWarning) print as one line each; the libraries' own
    warnings (sklearn, numpy, anndata) are silenced unless GENEKB_DEBUG is set.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings.catch_warnings():
                if not os.environ.get("GENEKB_DEBUG"):
                    warnings.simplefilter("ignore")
                warnings.simplefilter("always", GenekbWarning)
                warnings.showwarning = _show_warning
                return fn(*args, **kwargs)
        except GenekbError as exc:
            fail(as_flags(str(exc)), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; nothing half-written was published", 130)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except Exception as exc:
            if os.environ.get("GENEKB_DEBUG"):
                raise
            fail(f"unexpected {exc.__class__.__name__}: {exc} (set GENEKB_DEBUG=1 for a traceback)")

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def info(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


@contextlib.contextmanager
def progress_factory(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], Any]]:
    """A factory for the store's progress hook: (total, reused) -> per-batch callback."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not enabled or not err.is_terminal,
    )

    def factory(total: int, reused: int) -> Callable[[int], None]:
        if reused:
            info(f"{label}: reusing {reused} vectors already in the store")
        task = bar.add_task(label, total=total)
        return lambda n: bar.advance(task, n)

    with bar:
        yield factory


def parse_options(pairs: list[str], flag: str = "--source-opt") -> dict[str, str]:
    """`key=value` pairs from a repeated option."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects key=value, got {pair!r}")
        out[key.strip().replace("-", "_")] = value
    return out


# Library errors name a parameter as `name=` or `name=value` (what a Python caller writes); on
# the command line the same words become the flag (`--name` or `--name value`).
LIBRARY_FLAGS = {
    "batch_key": "--batch-key",
    "datasets": "--datasets",
    "gene_key": "--gene-key",
    "label_key": "--label-key",
    "layer": "--layer",
    "methods": "--methods",
    "n_clusters": "--n-clusters",
    "root": "--root",
    "seeds": "--seeds",
    "sep": "--sep",
    "taxon": "--taxon",
    "top_n": "--top",
}
_PARAMETER = re.compile(r"\b(" + "|".join(LIBRARY_FLAGS) + r")=(\S?)")


def as_flags(message: str) -> str:
    """A library message in the command line's terms (`n_clusters=500` -> `--n-clusters 500`)."""
    return _PARAMETER.sub(
        lambda m: LIBRARY_FLAGS[m[1]] + (f" {m[2]}" if m[2].isalnum() or m[2] in "'\"" else m[2]),
        message,
    )
