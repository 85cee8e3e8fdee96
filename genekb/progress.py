"""Progress bars for Python sessions and notebooks (tqdm; a widget in Jupyter where ipywidgets is
installed, text on stderr elsewhere). A bar appears only once its step has run for
`settings.progress_delay` seconds, and never at `settings.verbosity` 0.

Two shapes of hook exist in the library and both are served here: the store's factory
`(total, reused, costs) -> advance(n)` (`genekb.store`, `genekb.build`) and cellmodel's stage hook
`(stage, done, total)` (gene cards, sentences, chunks). The command line has its own lines on
stderr (`cli.common`); these are for the Python API.
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from genekb.settings import settings


def bar(label: str, total: int, unit: str = "it") -> Any:
    """One tqdm bar (auto: widget in a notebook), shown after the settings' delay; None when
    the session is quiet."""
    if settings.verbosity < 1:
        return None
    with warnings.catch_warnings():
        # Without ipywidgets tqdm.auto warns once and falls back to text: text is what we want.
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=label, unit=unit, delay=settings.progress_delay, leave=False)


@contextlib.contextmanager
def store_bars(label: str) -> Iterator[Callable[..., Callable[[int], None]] | None]:
    """The store's progress factory as bars (one per embedding batch run); None when quiet."""
    if settings.verbosity < 1:
        yield None
        return
    opened: list[Any] = []

    def factory(
        total: int, reused: int = 0, costs: Sequence[float] | None = None
    ) -> Callable[[int], None]:
        shown = bar(label, total, unit="texts")
        opened.append(shown)
        return shown.update if shown is not None else (lambda n: None)

    try:
        yield factory
    finally:
        for shown in opened:
            if shown is not None:
                shown.close()


class StageBars:
    """cellmodel's `(stage, done, total)` hook as one bar per stage; `close()` ends them all.
    `weigh` is accepted (the command line's lines use it) and ignored: a bar counts items."""

    def __init__(self) -> None:
        self.bars: dict[str, Any] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        shown = self.bars.get(stage)
        restarted = shown is not None and done < shown.n  # the same stage run again
        if shown is None or shown.total != total or restarted:
            self.close()  # steps run one after another: a new one ends the bar before it
            shown = self.bars[stage] = bar(stage, total)
        if shown is not None:
            shown.update(min(done, total) - shown.n)  # update, not refresh: keeps the delay

    def weigh(self, stage: str, costs: Sequence[float]) -> None:
        """Unequal item costs: not used by a bar (kept for the hook's protocol)."""

    def close(self) -> None:
        for shown in self.bars.values():
            if shown is not None:
                shown.close()
        self.bars.clear()


StageHook = Callable[[str, int, int], None]
# The hook of the `stage_bars` (or `reporting`) block now running: a library step that is handed
# no progress hook (an annotation building the gene cards it lacks, a fit's steps) reports to it.
_ACTIVE: contextvars.ContextVar[StageHook | None] = contextvars.ContextVar(
    "genekb_stage_bars", default=None
)


def active_stage_hook() -> StageHook | None:
    """The progress hook of the call now running (None outside one, or when quiet)."""
    return _ACTIVE.get()


@contextlib.contextmanager
def reporting(hook: StageHook | None) -> Iterator[None]:
    """Make `hook` the active one for the block: the command line's lines hear the steps that
    report only to the active hook (a cluster fit, a classifier's refinement), as a Python
    session's bars do."""
    token = _ACTIVE.set(hook)
    try:
        yield
    finally:
        _ACTIVE.reset(token)


@contextlib.contextmanager
def stage_bars() -> Iterator[StageBars | None]:
    """A `StageBars` hook for one call, closed at its end and active meanwhile
    (`active_stage_hook`); None when quiet."""
    if settings.verbosity < 1:
        yield None
        return
    hook = StageBars()
    token = _ACTIVE.set(hook)
    try:
        yield hook
    finally:
        _ACTIVE.reset(token)
        hook.close()


def notice(message: str) -> None:
    """One line on stderr for a Python session (e.g. a store write), at verbosity 1 and above."""
    if settings.verbosity >= 1:
        import sys

        sys.stderr.write(message + "\n")
