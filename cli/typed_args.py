"""The arguments as the user typed them, checked before a command parses them: what Click
would take without a word (an option given twice, an empty path, `-o=FILE`, `~` the shell left,
bytes the locale cannot decode) is a usage error or is read as meant, and an unknown option gets
the suggestion Click leaves out."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer._click.core import Context as ClickContext
from typer._click.exceptions import NoSuchOption
from typer._click.exceptions import UsageError as ClickUsageError
from typer.core import TyperOption


def checked_as_typed(ctx: ClickContext, args: list[str]) -> list[str]:
    """The command's `args` checked (a ClickUsageError for what it would misread), with `~`
    expanded in its paths; what does not parse is left to the command's own parse to name."""
    _refuse_short_option_with_equals(args, ctx)
    try:
        values, _, order = ctx.command.make_parser(ctx).parse_args(args=list(args))
    except ClickUsageError as exc:
        _refuse_one_dash_long_option(exc, args, ctx)
        return args
    _refuse_repeated_options(order, ctx)
    _refuse_empty_paths(order, values, ctx)
    _refuse_undecodable_text(order, values, ctx)
    return _expand_home(order, values, args)


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


def short_option_meant(exc: ClickUsageError) -> str:
    """The option meant by one typed long (`--k` for `-k`) or in another case (`-K`): Click
    suggests only long options, by spelling, and said nothing for these."""
    if not isinstance(exc, NoSuchOption) or exc.possibilities or exc.ctx is None:
        return ""
    typed = exc.option_name.lstrip("-").lower()
    given = [o for p in exc.ctx.command.params for o in (*p.opts, *p.secondary_opts)]
    near = sorted(o for o in given if o.startswith("-") and o.lstrip("-").lower() == typed)
    return f" (Possible options: {', '.join(near)})" if near else ""
