"""Progress on stderr for the command line: live bars in a terminal, and elsewhere (a log, a
pipe) plain lines at most every GENEKB_PROGRESS_SECONDS, with a heartbeat while a step blocks."""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from cli.common import err, info
from genekb.settings import env_number

PROGRESS_SECONDS = 10.0  # seconds between progress lines outside a terminal
# The unit of a stage's rate where its items are not gene texts (the library's stage names).
STAGE_UNITS = {
    "fit: pretraining": "steps",
    "fit: refinement": "steps",
    "classify: contrastive refinement": "epochs",
    "eval:": "fits",  # every `eval: TASK` stage (cross-validated probe fits)
    # embed --chunk-size's passes over the cells (cellmodel.chunked.embed)
    "statistics": "chunks",
    "weighted view": "chunks",
    "centring": "chunks",
}


def progress_seconds() -> float:
    """Seconds between progress lines: GENEKB_PROGRESS_SECONDS, else PROGRESS_SECONDS."""
    return env_number("GENEKB_PROGRESS_SECONDS", PROGRESS_SECONDS)


def _duration(seconds: float) -> str:
    seconds = max(round(seconds), 0)
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class LogProgress:
    """Progress as plain lines on stderr, for logs: `label: done/total (pct), rate/s, time left`,
    at most one line every `interval` seconds (GENEKB_PROGRESS_SECONDS, default 10) plus the
    last one, so a long step shows it is moving without flooding the log."""

    def __init__(
        self,
        label: str,
        total: int,
        *,
        unit: str = "texts",
        interval: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        write: Callable[[str], None] | None = None,
        costs: Sequence[float] | None = None,
    ) -> None:
        if interval is None:
            interval = progress_seconds()
        self.label, self.total, self.unit, self.interval = label, total, unit, interval
        self.clock, self.write = clock, write or info
        self.started = self.last = clock()
        self.done = self.first = 0
        # Work done after the first n items, when items cost unequal amounts (long texts first).
        self.work = [0.0, *itertools.accumulate(costs)] if costs is not None else None

    def start_at(self, done: int) -> None:
        """Work already done before timing starts (cached items) does not count toward the rate."""
        self.done = self.first = done

    def advance(self, n: int) -> None:
        self.update(self.done + n)

    def update(self, done: int) -> None:
        self.done = done
        now = self.clock()
        if done < self.total and now - self.last < self.interval:
            return
        self.last = now
        elapsed = now - self.started
        rate = (done - self.first) / elapsed if elapsed > 0 else 0.0
        line = f"{self.label}: {done}/{self.total} ({done / max(self.total, 1):.0%})"
        if rate > 0:
            line += f", {rate:.1f} {self.unit}/s"
            if done < self.total:
                line += f", about {_duration(self._left(done, elapsed, rate))} left"
            else:
                line += f", {_duration(elapsed)}"
        self.write(line)

    def _left(self, done: int, elapsed: float, rate: float) -> float:
        """Seconds left: by items at the rate so far, or by the work still to do where items
        weigh differently."""
        work = self.work
        if work is None or len(work) != self.total + 1 or work[done] <= work[self.first]:
            return (self.total - done) / rate
        return elapsed * (work[-1] - work[done]) / (work[done] - work[self.first])


def stage_progress(**line_options: Any) -> Callable[[str, int, int], None]:
    """A `(stage, done, total)` hook (cellmodel's) that writes LogProgress lines per stage.

    Its `weigh(stage, costs)` attribute gives the items of a stage about to start unequal costs
    (gene cards, longest first), so that stage's time left follows the work, not the count.
    `line_options` go to each LogProgress (interval, clock, write)."""
    stages: dict[str, LogProgress] = {}
    weights: dict[str, Sequence[float]] = {}

    def report(stage: str, done: int, total: int) -> None:
        line = stages.get(stage)
        if line is None or line.total != total or done < line.done:  # new, or run again
            costs = weights.pop(stage, None)
            units = [u for name, u in STAGE_UNITS.items() if stage.startswith(name)]
            unit = {"unit": units[0]} if units else {}
            options = {**unit, **line_options}
            stages[stage] = line = LogProgress(stage, total, costs=costs, **options)
            line.start_at(done)
            # A one-off step (total 1) is named, not counted: "0/1" read as a count stuck at 0.
            line.write(f"{stage}: {done}/{total}" if total > 1 else stage)
            return
        line.update(done)

    def weigh(stage: str, costs: Sequence[float]) -> None:
        weights[stage] = costs

    report.weigh = weigh  # type: ignore[attr-defined]
    return report


@contextlib.contextmanager
def stage_bars(console: Console | None = None) -> Iterator[Callable[[str, int, int], None]]:
    """A `(stage, done, total)` hook drawn as live bars in a terminal: a counted stage gets a bar
    with its time left, a one-off step (total 1) a pulsing bar and its elapsed time until the next
    stage starts, so a blocking step is seen to be running."""
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or err,
    )
    tasks: dict[str, Any] = {}
    open_steps: list[Any] = []

    def report(stage: str, done: int, total: int) -> None:
        task = tasks.get(stage)
        if task is None:
            for step in open_steps:  # a new stage: the step before it is over
                bar.update(step, total=1, completed=1)
            open_steps.clear()
            step = total <= 1
            count = "" if step else f"{done}/{total}"
            tasks[stage] = task = bar.add_task(
                escape(stage), total=None if step else total, completed=done, count=count
            )
            if step:
                open_steps.append(task)
            return
        if total > 1:
            bar.update(task, total=total, completed=done, count=f"{done}/{total}")

    report.weigh = lambda stage, costs: None  # type: ignore[attr-defined]
    with bar:
        yield report


@contextlib.contextmanager
def steady_progress(first: str, **line_options: Any) -> Iterator[Callable[[str, int, int], None]]:
    """Bars in a terminal (`stage_bars`). Elsewhere `stage_progress`, plus a line naming the
    step under way whenever `interval` seconds pass with none (a blocking step: reading a file,
    loading a model or the ontology), so a log never goes quiet for longer than that. `first`
    names the step under way until the first stage comes; it is not written at once, so input
    that fails its checks still gives one line."""
    if err.is_terminal and not line_options:
        with stage_bars() as bars:
            yield bars
        return
    interval = float(line_options.pop("interval", None) or progress_seconds())
    clock = line_options.get("clock", time.monotonic)
    write = line_options.pop("write", None) or info
    now = clock()
    state: dict[str, Any] = {"stage": first, "since": now, "last": now, "count": ""}

    def written(line: str) -> None:
        state["last"] = clock()
        write(line)

    lines = stage_progress(write=written, interval=interval, **line_options)

    def report(stage: str, done: int, total: int) -> None:
        if stage != state["stage"]:
            state["stage"], state["since"] = stage, clock()
        state["count"] = f"{done}/{total}, " if total > 1 else ""
        lines(stage, done, total)

    report.weigh = lines.weigh  # type: ignore[attr-defined]
    with _heartbeat(state, interval, clock, written):
        yield report


@contextlib.contextmanager
def _heartbeat(
    state: dict[str, Any], interval: float, clock: Callable[[], float], write: Callable[[str], None]
) -> Iterator[None]:
    """While the block runs, a thread names `state`'s stage once 0.8 × `interval` has passed
    since the last line: the margin and the short tick keep every gap under `interval` even when
    the thread wakes late on a busy machine."""
    stop = threading.Event()
    quiet = 0.8 * interval

    def beat() -> None:
        while not stop.wait(min(0.25, interval / 20)):
            now = clock()
            if now - state["last"] >= quiet:
                elapsed = _duration(now - state["since"])
                write(f"{state['stage']}: {state['count']}still working, {elapsed}")

    ticker = threading.Thread(target=beat, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        stop.set()
        ticker.join()


@contextlib.contextmanager
def progress_factory(label: str, enabled: bool = True) -> Iterator[Callable[[int, int], Any]]:
    """A factory for the store's progress hook: (total, reused) -> per-batch callback.

    A bar in a terminal; elsewhere (a log, a pipe) a LogProgress line every ~10 s.
    """
    progress_seconds()  # a bad GENEKB_PROGRESS_SECONDS is refused before any work, not mid-way
    terminal = err.is_terminal
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[texts]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not enabled or not terminal,
    )

    def factory(
        total: int, reused: int, costs: Sequence[float] | None = None
    ) -> Callable[[int], None]:
        if reused:
            info(f"{label}: reusing {reused} vectors already in the store")
        if enabled and not terminal:
            return LogProgress(label, total, costs=costs).advance
        # The bar moves by work, not by texts, so its time left holds when long texts come first.
        weighed = costs is not None and len(costs) == total
        work = list(itertools.accumulate(costs)) if weighed else None  # type: ignore[arg-type]
        task = bar.add_task(label, total=work[-1] if work else total, texts=f"0/{total}")
        done = [0]

        def advance(n: int) -> None:
            done[0] = min(done[0] + n, total)
            completed = work[done[0] - 1] if work is not None and done[0] else done[0]
            bar.update(task, completed=completed, texts=f"{done[0]}/{total}")

        return advance

    with bar:
        yield factory
