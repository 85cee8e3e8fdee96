"""The colours of `cm.pl.umap`: which column is drawn on a colour scale, the palette of groups,
scanpy's kept colours, and groups whose names would read alike in a legend."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from cellmodel.arguments import alike_as_text
from genekb.errors import GenekbError, GenekbWarning, warn

# A numeric column with more distinct values than this is drawn on a colour scale, as scanpy does
# (counts, scores), not as one legend entry per value.
MAX_NUMERIC_CATEGORIES = 20


def continuous(values: pd.Series) -> bool:
    """Whether a column is drawn on a colour scale: numbers (not bools) of many values."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return bool(numeric) and values.nunique() > MAX_NUMERIC_CATEGORIES


def check_alike(values: pd.Series, name: str) -> None:
    """Refuse groups that read alike as text (1 and '1'): the legend named two colours alike,
    where the scores and `confusion` read them (by their text) as one class."""
    if continuous(values):
        return
    alike = alike_as_text(pd.Categorical(values).categories)
    if alike:
        raise GenekbError(
            f"obs[{name!r}] holds the groups {alike[0]!r} and {alike[1]!r}, which read alike as"
            " text; make the column one kind (e.g. all text) so each group has its own name"
        )


def stored_colours(adata: Any, name: str, values: pd.Series) -> dict[Any, Any] | None:
    """The colours scanpy keeps for a categorical obs column (uns[name + "_colors"], one per
    category in order), where there are enough of them and each is a colour; else None."""
    from matplotlib.colors import is_color_like

    stored = adata.uns.get(f"{name}_colors")
    if not isinstance(values.dtype, pd.CategoricalDtype) or stored is None:
        return None
    if isinstance(stored, str | Mapping) or not isinstance(stored, Iterable):
        return None
    categories = values.cat.categories
    stored = list(stored)[: len(categories)]
    if len(stored) < len(categories) or not all(map(is_color_like, stored)):
        return None  # as scanpy: too few, or not colours, and the default palette is drawn
    return dict(zip(categories, stored, strict=True))


# The qualitative maps past 10 groups, without their greys (as scanpy's palettes leave them
# out): tab20's #c7c7c7 and tab20c's #bdbdbd, #d9d9d9 drew a group in the light grey of NA.
_QUALITATIVE = (("tab20", (14, 15)), ("tab20b", ()), ("tab20c", (16, 17, 18, 19)), ("Dark2", (7,)))


# scanpy's palette past 20 groups (default_102): the most colours one picture tells apart here.
MAX_COLOURS = 102


class SharedColourWarning(GenekbWarning):
    """More groups than colours a picture can tell apart: some groups share a colour."""


def palette(n: int, name: str = "the column") -> list[Any]:
    """tab10 up to 10 groups, then tab20, tab20b, tab20c and Dark2 without their greys, 61
    colours (a continuous map gave neighbouring groups of a 37-type file the same dark red),
    then scanpy's 102 (`default_102`); past those, colours repeat, with a warning naming `name`:
    a continuous map drew neighbouring groups alike without a word."""
    import matplotlib.pyplot as plt

    if n <= 10:
        return [plt.get_cmap("tab10")(i) for i in range(n)]
    colours = [
        colour
        for name_, greys in _QUALITATIVE
        for i, colour in enumerate(plt.get_cmap(name_).colors)
        if i not in greys
    ]
    if n <= len(colours):
        return colours[:n]
    from scanpy.plotting.palettes import default_102

    if n > len(default_102):
        warn(
            f"{name} has {n:,} groups, more than the {len(default_102)} colours a picture tells"
            f" apart: groups {len(default_102)} apart share a colour; colour by a coarser column"
            " to tell each group by its colour",
            SharedColourWarning,
        )
    return [default_102[i % len(default_102)] for i in range(n)]
