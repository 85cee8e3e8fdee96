"""What both command-line apps share: the app itself, error reporting, JSON output and messages
on stderr (progress on stderr is `cli.progress`)."""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from typer import rich_utils
from typer._click.core import Command as ClickCommand
from typer._click.core import Context as ClickContext  # Typer vendors its own click
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup

from cli import (
    INTERRUPTED,
    PIPE_CLOSED,
    TERMINATED,
    Terminated,
    restore_interrupts,
    silence_closed_pipe,
    terminate_as_interrupt,
)
from cli.flags import as_flags
from cli.plain import ONE_LINE
from cli.typed_args import checked_as_typed, short_option_meant
from genekb.errors import CONTROL_ESCAPES, GenekbError, GenekbWarning, UsageError, notes_of
from genekb.fileio import json_safe

err = Console(stderr=True, emoji=False)  # ":x:" in a quoted value stays text


UNBOUNDED_WIDTH = 100_000  # columns of stdout when it is no terminal: a table is never cut


class _Stdout(Console):
    """stdout: a terminal's width, but piped or redirected no width at all; rich's 80 columns
    cut a table's ids and tags to "txt-…", the one value a user passes on."""

    @property
    def size(self) -> ConsoleDimensions:
        if self._width is None and not self.is_terminal:
            return ConsoleDimensions(UNBOUNDED_WIDTH, 25)
        return super().size


out = _Stdout()  # every command's tables and documents on stdout


def _reader_left(console: Console) -> None:
    """rich's hook for a write to a closed pipe (a table, the help, a message `| head -1`):
    stop quietly with the status `--json` output stops with (`handle_errors`); rich's own exit 1
    is the status of bad input. Set on rich's Console itself: Typer prints help and usage
    errors through consoles of its own."""
    console.quiet = True
    silence_closed_pipe(console.file.fileno())
    raise SystemExit(PIPE_CLOSED)


Console.on_broken_pipe = _reader_left  # type: ignore[method-assign]
F = TypeVar("F", bound=Callable[..., Any])


def make_app(name: str, help: str) -> typer.Typer:
    """A top-level Typer app as both CLIs want it: help when called bare, errors as one line
    (no rich tracebacks, no boxed usage errors), no shell-completion options."""
    return typer.Typer(
        name=name,
        help=help,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        cls=OneLineUsageGroup,
    )


def add_commands(app: typer.Typer, commands: dict[str, Callable[..., Any]]) -> None:
    """Add `commands` (name -> function) to `app`, each once however often a module registers."""
    have = {c.name for c in app.registered_commands}
    for name, command in commands.items():
        if name not in have:
            app.command(name)(command)


class OneLineUsageGroup(TyperGroup):
    """Click's usage errors (`-k 0` against min=1, an unknown option, a missing argument) as the
    house's one `error:` line, exit 2: Typer would print the usage and a boxed panel."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: ClickContext | None = None,
        **extra: Any,
    ) -> ClickContext:
        with _one_line_usage_errors(), _help_no_narrower():
            return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: ClickContext) -> Any:
        with _one_line_usage_errors(ctx), _help_no_narrower():
            return super().invoke(ctx)

    def get_command(self, ctx: ClickContext, cmd_name: str) -> ClickCommand | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None and not command.short_help and command.help:
            # The command list shows the first paragraph of the docstring; Typer's rich mode
            # keeps its line breaks, which break the list's lines mid-sentence.
            command.short_help = " ".join(command.help.split("\n\n")[0].split())
        return command

    def resolve_command(
        self, ctx: ClickContext, args: list[str]
    ) -> tuple[str | None, ClickCommand | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and not isinstance(command, TyperGroup):
            rest = checked_as_typed(ClickContext(command, ctx, name), rest)
        return name, command, rest


@contextlib.contextmanager
def _one_line_usage_errors(ctx: ClickContext | None = None) -> Iterator[None]:
    try:
        yield
    except ClickUsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help Typer prints when called bare
            raise
        where = exc.ctx or ctx  # some parser errors carry no context: name the group's help
        command = where.command_path if where is not None else "the command"
        said = exc.format_message().rstrip(".") + short_option_meant(exc)
        fail(f"{said}; see `{command} --help`", exc.exit_code)


HELP_MIN_WIDTH = 80  # as help is drawn into a pipe


@contextlib.contextmanager
def _help_no_narrower() -> Iterator[None]:
    """Help drawn at least HELP_MIN_WIDTH wide: in a narrower terminal Typer's table cut the
    flags, 28 of them at 60 columns, every one at 20 (`-…`); drawn wider, the
    terminal wraps the lines and the flags stay whole. Typer's own TERMINAL_WIDTH is kept."""
    kept = rich_utils.MAX_WIDTH
    if kept is None:
        rich_utils.MAX_WIDTH = max(Console().width, HELP_MIN_WIDTH)
    try:
        yield
    finally:
        rich_utils.MAX_WIDTH = kept


def fail(message: str, code: int = 1) -> None:
    # Escaped: a message quotes paths and values the user gave, and `[x]` in them is no markup.
    line = escape(message.translate(ONE_LINE))
    err.print(f"[bold red]error:[/] {line}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


_warned: set[str] = set()  # this command's warnings, as the library worded them


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    _warned.add(str(message))
    info(f"warning: {as_flags(str(message))}")


def not_warned(notes: list[str]) -> list[str]:
    """The report's `notes` that this command has not already said as a warning: the library
    both warns (for a notebook) and keeps the note (for the record), and the command line says
    each once."""
    return [note for note in notes if note not in _warned]


@contextlib.contextmanager
def _command_warnings() -> Iterator[None]:
    """The user's warnings (GenekbWarning) as one line each, the libraries' own silenced unless
    GENEKB_DEBUG is set; what this command has said forgotten at its start (a test runs many
    commands in one process)."""
    _warned.clear()
    with warnings.catch_warnings():
        if not os.environ.get("GENEKB_DEBUG"):
            warnings.simplefilter("ignore")
        warnings.simplefilter("always", GenekbWarning)
        warnings.showwarning = _show_warning
        yield


def handle_errors(fn: F) -> F:
    """Turn expected failures into one line on stderr and an exit code, never a traceback.

    Warnings meant for the user (GenekbWarning) print as one line each; the libraries' own
    warnings (sklearn, numpy, anndata) are silenced unless GENEKB_DEBUG is set.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            restore_interrupts()  # from here a Ctrl-C unwinds, and the command cleans up
            with terminate_as_interrupt(), _command_warnings():
                return fn(*args, **kwargs)
        except GenekbError as exc:
            fail(as_flags(str(exc) + notes_of(exc)), exc.exit_code)
        except Terminated as exc:
            fail("terminated; nothing half-written was published" + notes_of(exc), TERMINATED)
        except KeyboardInterrupt as exc:
            fail("interrupted; nothing half-written was published" + notes_of(exc), INTERRUPTED)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except BrokenPipeError:  # stdout closed early (`| head`): stop quietly, as `cat` does
            silence_closed_pipe(sys.stdout.fileno())
            raise typer.Exit(PIPE_CLOSED) from None
        except OSError as exc:  # the disk filled, a directory vanished mid-run: say which file
            if os.environ.get("GENEKB_DEBUG"):
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            fail(f"{where}{exc.strerror or exc}; nothing half-written was published{notes_of(exc)}")
        except Exception as exc:
            if os.environ.get("GENEKB_DEBUG"):
                raise
            what = f"{exc.__class__.__name__}: {exc}{notes_of(exc)}"
            fail(f"unexpected {what} (set GENEKB_DEBUG=1 for a traceback)")

    return wrapper  # type: ignore[return-value]


def print_json(document: Any) -> None:
    """One strict JSON document on stdout (NaN and infinities written as null)."""
    try:
        text = json.dumps(document, indent=2, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(json_safe(document), indent=2, default=str, allow_nan=False)
    sys.stdout.write(text + "\n")


def info(message: str, *, markup: bool = False) -> None:
    """One message on stderr; `[x]` in it is text (it quotes names from files) unless `markup`."""
    err.print(message.translate(CONTROL_ESCAPES), markup=markup, highlight=False, soft_wrap=True)


def headless_plots() -> None:
    """The command line writes its pictures to files: matplotlib's file-only backend, so a
    machine without a display never needs one."""
    import matplotlib

    matplotlib.use("Agg")


def parse_options(pairs: list[str], flag: str = "--source-opt") -> dict[str, str]:
    """`key=value` pairs from a repeated option; a key given twice is refused (the last would
    silently win)."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"{flag} expects key=value, got {pair!r}")
        name = key.strip().replace("-", "_")
        if name in out:
            raise UsageError(f"{flag} {name} is given more than once; give it once")
        out[name] = value
    return out
