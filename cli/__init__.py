"""The command-line apps. Importing this package first makes Ctrl-C clean from the first moment.

The console scripts import `cli.genekb_app` / `cli.cellmodel_app`, which load Typer, Rich, NumPy
and the libraries behind them for a second or more; a Ctrl-C in that time would print a
KeyboardInterrupt traceback from whatever module was loading. Python runs this package's code
before any of that, so the handler set here turns such a Ctrl-C into one line and exit 130
(nothing has been written yet). Once a command runs, `cli.common.handle_errors` takes over: it
restores Python's own handler, so a Ctrl-C mid-work unwinds and cleans up what it started.
"""

from __future__ import annotations

import atexit
import codecs
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import NoReturn

INTERRUPTED = 130
TERMINATED = 143  # 128 + SIGTERM, as a shell reports a process SIGTERM ended
UNFLUSHED = 120  # Python's own status when the streams cannot be flushed at exit
PIPE_CLOSED = 141  # what a shell reports for a writer SIGPIPE ended (`cat big | head -1`)


def _interrupted_while_loading(signum: int, frame: FrameType | None) -> None:
    try:
        sys.stderr.write("error: interrupted while starting; nothing was written\n")
        sys.stderr.flush()
    finally:
        os._exit(INTERRUPTED)  # mid-import: no cleanup to run, and none must print a traceback


def interrupt_quietly_while_loading() -> None:
    """Exit 130 with one line on Ctrl-C until `restore_interrupts` (main thread only)."""
    main = threading.current_thread() is threading.main_thread()
    # A Ctrl-C the caller chose to ignore (`nohup`, a background job of a script) stays ignored.
    if main and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _interrupted_while_loading)


def restore_interrupts() -> None:
    """Python's own Ctrl-C (KeyboardInterrupt), which the commands catch and clean up after; only
    where this package had replaced it (a host that set its own handler keeps it)."""
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGINT) is _interrupted_while_loading:
        signal.signal(signal.SIGINT, signal.default_int_handler)


class Terminated(KeyboardInterrupt):
    """SIGTERM (`kill PID`, a scheduler's time limit) taken as a Ctrl-C: the command unwinds and
    runs the clean-up it runs for one (temporary files, a bench's worker process), where the
    default action ended the process at once and left a running worker behind."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While a command runs, SIGTERM raises `Terminated`; only in the main thread and where
    SIGTERM has its default action (a host's handler, or a SIGTERM ignored, is kept)."""
    main = threading.current_thread() is threading.main_thread()
    if not main or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def silence_closed_pipe(fd: int) -> None:
    """The reader of `fd` left (`| head -1`): /dev/null takes its place, so the writes still
    buffered, and the flush at exit, fail no more."""
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), fd)


def reopen_closed_std_streams() -> None:
    """A standard stream the shell closed (`>&-`, `2>&-`, `<&-`) becomes /dev/null. Python left
    it None, so the first write or the final flush failed with a traceback; and its descriptor
    was free, so the first file a command opened took it, and whatever a library printed to
    stdout or stderr landed inside that file."""
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, mode))  # noqa: SIM115 (open for the process)


def _byte_or_escape(exc: UnicodeError) -> tuple[str | bytes, int]:
    """A byte a name was read with (a lone surrogate) goes out as that byte, as Python's
    surrogateescape does; any other character the encoding lacks, as an escape (`\\xb1`)."""
    try:
        return codecs.lookup_error("surrogateescape")(exc)
    except UnicodeError:
        return codecs.lookup_error("backslashreplace")(exc)


codecs.register_error("genekb-escape", _byte_or_escape)


def escape_what_stdout_cannot_encode() -> None:
    """In a locale that is not UTF-8 (LC_ALL=C with PYTHONUTF8=0, PYTHONIOENCODING=ascii) what
    stdout cannot encode is printed as an escape, as stderr already does: Python's strict or
    surrogateescape handler failed a command after its work ("unexpected UnicodeEncodeError")."""
    stream = sys.stdout
    failing = getattr(stream, "errors", "") in ("strict", "surrogateescape")
    utf8 = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name == "utf-8"
    if failing and not utf8 and hasattr(stream, "reconfigure"):
        stream.reconfigure(errors="genekb-escape")


reopen_closed_std_streams()  # before any module opens a file (a host's open streams: a no-op)
escape_what_stdout_cannot_encode()
# Only when a console script runs: a host that imports the apps (tests, a notebook) keeps its own.
if os.path.basename(sys.argv[0] if sys.argv else "") in ("genekb", "cellmodel"):
    interrupt_quietly_while_loading()


def exit_without_teardown(app: Callable[[], object]) -> NoReturn:
    """Run a console script's app, then end the process as it asks, without the interpreter's
    teardown. An Arrow worker that releases Python-owned memory during the teardown aborts a
    process whose work is done and output written ("terminate called without an active
    exception", exit 134; apache/arrow#34314); genekb's own reads no longer hand Arrow such
    memory (genekb.store.parquet_bytes), and this also covers what other libraries leave running
    (`scripts/bench_exit_aborts.py` counts how often). Python's exit handlers (temporary
    folders, logging, a dask client's close) still run and both streams are flushed first; an
    exception other than an exit is left to Python, traceback and all."""
    try:
        app()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is not None and not isinstance(code, int):  # sys.exit("message"), as Python prints it
        print(code, file=sys.stderr)
        code = 1
    # As Python's own exit: threading's exit hooks first (they stop concurrent.futures' idle
    # workers, such as Dask's thread pool, which would otherwise wait for work for ever), then
    # the join of every other non-daemon thread, then the exit handlers.
    threading._shutdown()
    atexit._run_exitfuncs()
    status = int(code or 0)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:  # the reader left (`| head -1`) before the last lines
            silence_closed_pipe(stream.fileno())
            status = status or PIPE_CLOSED
        except (OSError, ValueError):  # a stream closed, a disk full
            status = status or UNFLUSHED
    os._exit(status)
