"""Checks of the plain values a Python caller passes (whole numbers, seeds, keyword options),
shared by the steps so that each refuses them alike and in words, before any work; the command
line's parser refuses the same values earlier."""

from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
import pandas as pd

from cellmodel._settings import SEED_MAX
from genekb.errors import GenekbWarning, UsageError, warn
from genekb.genemap import same_numbers_alike


def is_whole(value: object) -> bool:
    """An integer (numpy's too), but not a bool, which Python counts as one."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seed(seed: object, name: str = "seed") -> None:
    """A seed numpy, scikit-learn and torch all take; `name`: the parameter as the caller
    named it."""
    if not is_whole(seed) or not 0 <= seed <= SEED_MAX:  # type: ignore[operator]
        raise UsageError(f"{name}={seed!r} must be a whole number from 0 to {SEED_MAX}")


def check_count(value: object, name: str, minimum: int = 1) -> None:
    """A whole number of at least `minimum` (a bool or a float is refused, not truncated: the
    libraries below would fail on it deep inside, or read True as 1)."""
    if not is_whole(value) or value < minimum:  # type: ignore[operator]
        raise UsageError(f"{name}={value!r} must be a whole number, at least {minimum}")


def check_flags(**flags: object) -> None:
    """Each switch True or False (numpy's bools too): a string such as "no" is truthy, so
    `copy="no"` would have copied."""
    for name, value in flags.items():
        if not isinstance(value, (bool, np.bool_)):
            raise UsageError(f"{name}={value!r} must be True or False")


def alike_as_text(values: Iterable[Any]) -> tuple[Any, Any] | None:
    """The first two of distinct `values` that read alike as text (1 and '1', True and 'True'),
    or None: a group or class is named by its text, so two such would merge or share a name."""
    seen: dict[str, Any] = {}
    for value in values:
        first = seen.setdefault(str(value), value)
        if first is not value:
            return first, value
    return None


def lookalike_names(names: Iterable[Any]) -> list[tuple[str, ...]]:
    """Names that differ only in case or spaces ('T cell', 't cell ', 'T  cell'): most likely
    one cell type typed two ways, which a step keeps apart."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(" ".join(str(name).split()).casefold(), []).append(str(name))
    return [tuple(found) for found in groups.values() if len(found) > 1]


def missing_names(values: Any) -> np.ndarray:
    """Per value, whether it names nothing: missing (NaN, None, NA) or blank text. A blank label
    or group is no class of its own, in classify, annotate, explain and the scores alike."""
    series = pd.Series(np.asarray(values, dtype=object))
    return series.isna().to_numpy() | (series.astype(str).str.strip() == "").to_numpy()


# Label values that say a cell has no label: R writes a missing string as "NA" (a loom cannot
# store a missing string at all), exports write "nan" or "None", and "Unknown" / "unknown" stand
# for no type in the public files. Read as unlabelled wherever labels are read from a file:
# classify's training labels, the scores of cluster, classify and bench.
UNLABELLED = frozenset({"", "NA", "N/A", "<NA>", "nan", "NaN", "None", "Unknown", "unknown"})


class UnlabelledCellsWarning(GenekbWarning):
    """Cells whose label is one of `UNLABELLED`, left out as unlabelled."""


def unlabelled(values: Any) -> np.ndarray:
    """Per value, whether it labels nothing: missing, blank or one of `UNLABELLED` ("NA")."""
    series = pd.Series(np.asarray(values, dtype=object))
    said = series.astype(str).str.strip().isin(UNLABELLED).to_numpy()
    return missing_names(values) | said


def warn_unlabelled(values: Any, key: Any, doing: str) -> None:
    """Say how many cells of obs[`key`] carry a label that means none ("NA"), left out of
    `doing` (a missing value needs no word: it names nothing in any reader)."""
    said = unlabelled(values) & ~missing_names(values)
    if said.any():
        names = sorted({str(v).strip() for v in np.asarray(values, dtype=object)[said]})
        shown = ", ".join(map(repr, names))
        warn(
            f"{int(said.sum())} cell(s) of obs[{key!r}] are labelled {shown}, read as unlabelled:"
            f" left out of {doing}; rename the value if it is a class",
            UnlabelledCellsWarning,
        )


def class_order(column: Any) -> list[str]:
    """A label column's classes as text in the column's own order: a categorical's, numbers
    by value, text sorted (as `pd.Categorical` orders them); 1.0 written 1, as `label_array`."""
    values = column if isinstance(column, pd.Series) else np.asarray(column, dtype=object)
    names = pd.Series([str(c) for c in pd.Categorical(values).categories], dtype=object)
    return list(dict.fromkeys(same_numbers_alike(names)))


# A label key that names no obs column: the labels may be in a file beside the data.
LABELS_FROM_FILE = "read them from a file of cell id -> label (cellmodel.classify.read_labels)"

# A cellxgene export can carry a hundred obs columns: a refusal names the first ones, so that it
# stays one readable line.
SHOWN_COLUMNS = 20


def check_column_name(key: object, parameter: str) -> None:
    """Refuse the values themselves (a Series, an array, a list) where a column's name is asked
    for: compared with the column names they failed in numpy ("truth value ... ambiguous")."""
    if isinstance(key, (pd.Series, pd.Index, np.ndarray, list, tuple, set, dict)):
        raise UsageError(
            f"{parameter}= names an obs column, not its values (got a {type(key).__name__});"
            f" store them as a column first (adata.obs['name'] = values) and pass its name"
        )


def check_obs_column(
    columns: Iterable[Hashable], key: Hashable, parameter: str, where: str = "", other: str = ""
) -> None:
    """Refuse `key`, the value of `parameter` (as a Python caller names it: the command line
    shows the flag), unless it is one of `columns` (an obs frame or its column names), naming
    those there are. A column the caller named that the file lacks is a usage error (exit 2),
    like an unknown name. `where`: whose obs (" of the reference"); `other`: a further choice
    ("batch_key=None for no correction")."""
    check_column_name(key, parameter)
    names = list(columns)
    if key in names:
        return
    shown = ", ".join(map(str, names[:SHOWN_COLUMNS])) or "none"
    if len(names) > SHOWN_COLUMNS:
        shown += f", … {len(names) - SHOWN_COLUMNS} more"
    raise UsageError(
        f"{parameter}={key!r} is not an obs column{where}; choose from: {shown}"
        + (f"; or {other}" if other else "")
    )


def _keywords(function: Callable[..., Any]) -> set[str]:
    kinds = (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return {n for n, p in inspect.signature(function).parameters.items() if p.kind in kinds}


def refuse_unknown_options(
    options: Iterable[str],
    step: Callable[..., Any],
    taker: Callable[..., Any],
    extra: Iterable[str] = (),
    passed: Iterable[str] = (),
) -> None:
    """Refuse the `**options` of `step` (a `cm.tl` function) that `taker`, the library call it
    hands them to, does not accept (nor `extra` names), naming those it does, instead of
    Python's TypeError from inside the step. The step's own parameters, and those it `passed`
    to `taker` itself, are no options."""
    known = (_keywords(taker) | set(extra)) - _keywords(step) - set(passed) - {"adata"}
    what = step.__name__
    unknown = sorted(set(options) - known)
    if unknown:
        raise UsageError(
            f"unknown {what} option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
