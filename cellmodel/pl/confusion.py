"""`cm.pl.confusion`: reference labels (rows) against clusters or predictions (columns), the
columns in the order of their Hungarian match to the labels (a classifier's in the labels' own)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from cellmodel._settings import CLUSTER_KEY, MAX_DRAWN
from cellmodel.arguments import check_flags, check_obs_column, class_order
from cellmodel.io import require_anndata
from cellmodel.metrics import hungarian_mapping, labelled_pairs, paired_labels
from genekb.errors import GenekbError
from genekb.genemap import same_numbers_alike
from genekb.pl import axes_for, check_target, finish, style


def confusion_table(
    labels_true: Sequence[Any], groups: Sequence[Any], *, by_name: bool = False
) -> pd.DataFrame:
    """Counts of true classes (rows) by group (columns), columns ordered by the Hungarian match:
    matched groups in the order of their classes, unmatched groups after them. `by_name`: the
    groups are a classifier's predictions, which name the classes themselves: each class's own
    column stands under it (a zero column where none was predicted), so the diagonal counts the
    right calls; a Hungarian match would put a class wrongly called another on the diagonal.

    Examples
    --------
    >>> from cellmodel.pl import confusion_table
    >>> confusion_table(["a", "a", "b"], ["2", "2", "1"]).columns.tolist()
    ['2', '1']
    """
    paired_labels(labels_true, groups)
    order = class_order(labels_true)  # before the unlabelled are dropped: a Series keeps its dtype
    # An unlabelled cell is no class of its own (it was drawn as a row named "nan")
    labels_true, groups = labelled_pairs(labels_true, groups)
    # as `class_order` writes them: a float column's 1.0 is the class "1"
    labels_true = same_numbers_alike(pd.Series(np.asarray(labels_true).astype(str))).to_numpy()
    table = pd.crosstab(
        pd.Series(labels_true, name="label"),
        pd.Series(np.asarray(groups).astype(str), name="group"),
    )
    table = table.loc[[c for c in order if c in table.index]]  # the rows in the column's order
    if by_name:
        rows = list(table.index)
        table = table.reindex(columns=rows + sorted(set(table.columns) - set(rows)), fill_value=0)
        return table
    mapping = hungarian_mapping(labels_true, groups)
    rows = list(table.index)
    matched = sorted(mapping, key=lambda c: rows.index(mapping[c]))
    rest = [c for c in table.columns if c not in mapping]
    return table[matched + rest]


def confusion(
    adata: Any,
    label_key: str,
    key: str = CLUSTER_KEY,
    *,
    held_out: bool | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Any:
    """Row-normalized confusion of `obs[label_key]` (reference labels, read only to score)
    against `obs[key]` (clusters, or a classifier's predictions), counts printed.

    `held_out`: only the cells not used for training (default: on for a classifier's
    predictions, `cellmodel_pred` or another `key_added`, whose training cells would score
    themselves).

    Examples
    --------
    >>> import cellmodel as cm
    >>> ax = cm.pl.confusion(adata, "bulk_labels", show=False)
    >>> ax.get_xlabel()
    'cellmodel_cluster (Hungarian order)'
    """
    require_anndata(adata)
    check_target(ax, save)  # before the table is counted
    for parameter, column in (("label_key", label_key), ("key", key)):
        check_obs_column(adata.obs, column, parameter)
    train_column = f"{key}_train"
    if held_out is None:  # a classifier's predictions under any key_added: its training cells
        held_out = train_column in adata.obs  # scored themselves (only cellmodel_pred was held out)
    check_flags(held_out=held_out)  # held_out="no" is truthy: it dropped the training cells
    if held_out and train_column not in adata.obs:
        raise GenekbError(
            f"held_out=True needs obs[{train_column!r}] (which cells trained), which"
            f" {key!r} has not; leave held_out unset for a clustering"
        )
    cells = _held_out(adata.obs[train_column], train_column) if held_out else slice(None)
    by_name = train_column in adata.obs  # a classifier's predictions (classify writes it)
    table, note = drawn_table(
        confusion_table(adata.obs[label_key][cells], adata.obs[key][cells], by_name=by_name),
        MAX_DRAWN,
        by_name=by_name,
    )
    share = table.div(table.sum(axis=1), axis=0).to_numpy()
    with style():
        width = max(4.5, 2.5 + 0.42 * table.shape[1])
        fig, ax = axes_for(ax, (width, 1.4 + 0.36 * table.shape[0]))
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
        ax.set_xticks(range(table.shape[1]), table.columns, rotation=90, fontsize=7)
        ax.set_yticks(range(table.shape[0]), table.index, fontsize=7)
        where = " (held-out cells)" if held_out else ""
        order = "the rows' classes first" if by_name else "Hungarian order"
        ax.set_xlabel(f"{key} ({order}){where}")
        ax.set_ylabel(label_key)
        if note:
            ax.set_title(note, fontsize=8)
        for (i, j), n in np.ndenumerate(table.to_numpy()):
            if n:
                colour = "white" if share[i, j] > 0.5 else "black"
                ax.text(j, i, str(n), ha="center", va="center", fontsize=6, color=colour)
        return finish(fig, ax, show, save)


def _held_out(trained: pd.Series, column: str) -> np.ndarray:
    """The cells `trained` (obs[column], as classify writes it) marks False. Anything but True and
    False is refused: as bools, the text 'False' and a missing value (a file joined to one never
    classified) both read True, and those cells were dropped as training cells."""
    values = trained.astype(object) if isinstance(trained.dtype, pd.CategoricalDtype) else trained
    whole = values.dtype == bool or (
        pd.api.types.is_numeric_dtype(values) and values.isin([0, 1]).all()
    )
    if not whole:
        kinds = values.map(type).isin([bool, np.bool_])
        if not kinds.all():
            odd = values[~kinds].iloc[0]
            raise GenekbError(
                f"obs[{column!r}] must say True or False for each cell (whether it trained the"
                f" classifier), not {odd!r}; classify again, or set the column to bools"
            )
    held = ~values.to_numpy(dtype=bool)
    if not held.any():
        raise GenekbError(
            f"every cell trained the classifier (obs[{column!r}]): none is held out to score;"
            " pass held_out=False to draw the training cells' own calls"
        )
    return held


def drawn_table(
    table: pd.DataFrame, limit: int, *, by_name: bool = False
) -> tuple[pd.DataFrame, str]:
    """`table` with at most `limit` rows and columns, kept in their order: the largest classes,
    and the columns most of their cells went to (`by_name`: their own) before the largest
    others; the rest summed into one row and one column "other (N)". Returns it and a note
    saying so ("" when nothing was pooled).

    Examples
    --------
    >>> from cellmodel.pl.confusion import confusion_table, drawn_table
    >>> t = confusion_table(list("aaabbc"), list("xxxyyz"))
    >>> drawn_table(t, 2)[0].index.tolist()
    ['a', 'b', 'other (1)']
    """
    rows = _largest(table.sum(axis=1), limit)
    # each kept class's own column first (its name's with `by_name`, else where most of its
    # cells went), then the largest
    own = set(rows) if by_name else set(table.loc[rows].idxmax(axis=1))
    sizes = table.sum(axis=0)
    cols = _largest(sizes + sizes.index.isin(own) * (sizes.sum() + 1), limit)
    if len(rows) == len(table.index) and len(cols) == len(table.columns):
        return table, ""
    pooled_rows = table.index.difference(rows, sort=False)
    pooled_cols = table.columns.difference(cols, sort=False)
    out = table.loc[rows, cols].copy()
    if len(pooled_cols):
        out[f"other ({len(pooled_cols)})"] = table.loc[rows, pooled_cols].sum(axis=1)
    if len(pooled_rows):
        rest = table.loc[pooled_rows]
        other = [rest[c].sum() for c in cols]
        other += [rest[pooled_cols].to_numpy().sum()] if len(pooled_cols) else []
        out.loc[f"other ({len(pooled_rows)})"] = other
    note = (
        f"the {len(rows)} largest of {len(table.index)} classes and {len(cols)} largest of"
        f" {len(table.columns)} columns drawn; the rest pooled as 'other'"
    )
    return out.astype(int), note


def _largest(sizes: pd.Series, limit: int) -> list[Any]:
    """The `limit` largest entries' names, in their order in `sizes`."""
    if len(sizes) <= limit:
        return list(sizes.index)
    kept = set(sizes.sort_values(ascending=False, kind="stable").index[:limit])
    return [name for name in sizes.index if name in kept]
