"""What both command-line apps share: the app itself, error reporting, JSON output and messages
on stderr (progress on stderr is `cli.progress`)."""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console, ConsoleDimensions
from rich.markup import escape
from typer import rich_utils
from typer._click.core import Command as ClickCommand
from typer._click.core import Context as ClickContext  # Typer vendors its own click
from typer._click.exceptions import NoSuchOption
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperGroup, TyperOption

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
from genekb.errors import CONTROL_ESCAPES, GenekbError, GenekbWarning, UsageError, notes_of

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
            sub = ClickContext(command, ctx, name)
            _refuse_short_option_with_equals(rest, sub)
            try:
                values, _, order = command.make_parser(sub).parse_args(args=list(rest))
            except ClickUsageError as exc:  # left to the command's own parse to name, but:
                _refuse_one_dash_long_option(exc, rest, sub)
                return name, command, rest
            _refuse_repeated_options(order, sub)
            _refuse_empty_paths(order, values, sub)
            _refuse_undecodable_text(order, values, sub)
            rest = _expand_home(order, values, rest)
        return name, command, rest


# Parameters typed `str` that still name a path (a store root may be a URL; an input may be a
# dataset's name): checked as a `Path` is.
STR_PATHS = {"--root", "SOURCE"}


def _given(
    order: list[Any], values: dict[str, Any], paths: bool
) -> Iterator[tuple[Any, str, str]]:
    """(parameter, its flag or NAME, one value as typed) for each path given (`paths`), or for
    each other value given."""
    for param in order:
        flag = max(param.opts, key=len) if isinstance(param, TyperOption) else param.name.upper()
        is_path = getattr(param.type_descriptor, "annotation", None) is Path or flag in STR_PATHS
        if is_path == paths:
            given = values.get(param.name)
            for value in given if isinstance(given, (list, tuple)) else [given]:
                if isinstance(value, str):
                    yield param, flag, value


def _refuse_undecodable_text(order: list[Any], values: dict[str, Any], ctx: ClickContext) -> None:
    """A name or query holding bytes the locale cannot decode (a Latin-1 `$(cat file)`, UTF-8
    typed where the locale is ASCII) is a usage error naming the bytes: Python kept them as
    lone surrogates, which no column, tag or gene matched ("holds U+DCE9 an unnamed
    character") and DuckDB refused ("unexpected TypeError"). A path may hold any bytes."""
    for _, flag, value in _given(order, values, paths=False):
        if any("\udc80" <= ch <= "\udcff" for ch in value):
            raise ClickUsageError(
                f"{flag} {ascii(os.fsencode(value))[1:]} is not {sys.getfilesystemencoding()}"
                " text; give it as UTF-8 (iconv -t UTF-8), in a UTF-8 locale (LC_ALL=C.UTF-8)",
                ctx,
            )


def _refuse_empty_paths(order: list[Any], values: dict[str, Any], ctx: ClickContext) -> None:
    """A path given empty (`--plots ""`, `--root=`, an unset shell variable) is a usage error:
    `Path("")` is ".", so the command read or wrote the current folder, or took the default
    store, without a word."""
    for param, flag, value in _given(order, values, paths=True):
        if value == "":
            way = "" if param.required or not isinstance(param, TyperOption) else f" or drop {flag}"
            raise ClickUsageError(f"{flag}: it is empty; give a path{way}", ctx)


def _expand_home(order: list[Any], values: dict[str, Any], args: list[str]) -> list[str]:
    """`~` the shell left as typed (`--plots=~/p`, a quoted "~/x") is the home folder, as
    `--root` and $GENEKB_HOME read it: kept, it named a folder "~" ("directory ~ does not
    exist; create it first")."""
    home: dict[str, str] = {}
    for param, _, value in _given(order, values, paths=True):
        if value.startswith("~"):
            home[value] = os.path.expanduser(value)
            home.update({f"{opt}={value}": f"{opt}={home[value]}" for opt in param.opts})
    return [home.get(arg, arg) for arg in args]


def _refuse_repeated_options(order: list[Any], ctx: ClickContext) -> None:
    """An option of one value given twice (`-k 3 -k 4`, `--semantic --no-semantic`) is a usage
    error: Click keeps the last and drops the first without a word. Repeatable options are not
    counted."""
    seen: set[str] = set()
    for param in order:
        if not isinstance(param, TyperOption) or param.multiple or param.count:
            continue
        if param.name in seen and param.expose_value:
            sides = (param.opts, param.secondary_opts)  # --semantic/--no-semantic is one option
            flags = "/".join(max(opts, key=len) for opts in sides if opts)
            raise ClickUsageError(f"{flags} is given more than once; give it once", ctx)
        seen.add(str(param.name))


@contextlib.contextmanager
def _one_line_usage_errors(ctx: ClickContext | None = None) -> Iterator[None]:
    try:
        yield
    except ClickUsageError as exc:
        if type(exc).__name__ == "NoArgsIsHelpError":  # the help Typer prints when called bare
            raise
        where = exc.ctx or ctx  # some parser errors carry no context: name the group's help
        command = where.command_path if where is not None else "the command"
        said = exc.format_message().rstrip(".") + _short_option_meant(exc)
        fail(f"{said}; see `{command} --help`", exc.exit_code)


def _refuse_short_option_with_equals(args: list[str], ctx: ClickContext) -> None:
    """`-o=out.h5ad`: Click gives a short option what follows its letter, "=out.h5ad", so the
    file was named "=out.h5ad" (and `-o=~/x` looked for a folder "=~")."""
    for arg in args:
        if arg == "--":
            return
        if arg.startswith("--") or arg[2:3] != "=":
            continue
        for param in ctx.command.params:
            if isinstance(param, TyperOption) and not param.is_flag and arg[:2] in param.opts:
                long = max(param.opts, key=len)
                other = f", or give {long}={arg[3:]}" if long.startswith("--") else ""
                raise ClickUsageError(
                    f"{arg}: a short option takes its value after a space"
                    f" ({arg[:2]} {arg[3:]}){other}",
                    ctx,
                )


def _refuse_one_dash_long_option(exc: ClickUsageError, args: list[str], ctx: ClickContext) -> None:
    """`-top` for `--top`: Click read it as -t -o -p and said "No such option: -t", a letter
    the user never typed alone."""
    if not isinstance(exc, NoSuchOption) or exc.option_name.startswith("--"):
        return
    given = {o for p in ctx.command.params for o in (*p.opts, *p.secondary_opts)}
    for arg in args:
        typed = arg.split("=")[0]
        one_dash = typed.startswith(exc.option_name) and not typed.startswith("--")
        if one_dash and f"-{typed}" in given:
            raise NoSuchOption(typed, possibilities=[f"-{typed}"], ctx=ctx)


def _short_option_meant(exc: ClickUsageError) -> str:
    """The option meant by one typed long (`--k` for `-k`) or in another case (`-K`): Click
    suggests only long options, by spelling, and said nothing for these."""
    if not isinstance(exc, NoSuchOption) or exc.possibilities or exc.ctx is None:
        return ""
    typed = exc.option_name.lstrip("-").lower()
    given = [o for p in exc.ctx.command.params for o in (*p.opts, *p.secondary_opts)]
    near = sorted(o for o in given if o.startswith("-") and o.lstrip("-").lower() == typed)
    return f" (Possible options: {', '.join(near)})" if near else ""


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


def _show_warning(message: Any, category: type, *args: Any, **kwargs: Any) -> None:
    info(f"warning: {as_flags(str(message))}")


def handle_errors(fn: F) -> F:
    """Turn expected failures into one line on stderr and an exit code, never a traceback.

    Warnings meant for the user (GenekbWarning) print as one line each; the libraries' own
    warnings (sklearn, numpy, anndata) are silenced unless GENEKB_DEBUG is set.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            restore_interrupts()  # from here a Ctrl-C unwinds, and the command cleans up
            with terminate_as_interrupt(), warnings.catch_warnings():
                if not os.environ.get("GENEKB_DEBUG"):
                    warnings.simplefilter("ignore")
                warnings.simplefilter("always", GenekbWarning)
                warnings.showwarning = _show_warning
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


def _json_safe(value: Any) -> Any:
    """NaN and infinities as null: JSON has no such numbers, and strict readers refuse them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def print_json(document: Any) -> None:
    """One strict JSON document on stdout (NaN and infinities written as null)."""
    try:
        text = json.dumps(document, indent=2, default=str, allow_nan=False)
    except ValueError:
        text = json.dumps(_json_safe(document), indent=2, default=str, allow_nan=False)
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
