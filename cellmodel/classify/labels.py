"""Labels and the training split: only training labels reach the fitting code."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.arguments import alike_as_text, is_whole, lookalike_names, unlabelled
from cellmodel.classify.options import SMALL_CLASSES, LabelsLike, SmallClasses
from genekb.errors import GenekbError, GenekbWarning, UsageError, listed, warn
from genekb.genemap import same_numbers_alike


def label_array(labels: LabelsLike) -> np.ndarray:
    """Labels as an object array of strings, with None where a cell has no label (NaN, None, ''
    or a value that says so, such as "NA": `UNLABELLED`)."""
    series = pd.Series(
        np.asarray(labels, dtype=object)
        if not isinstance(labels, pd.Series)
        else labels.to_numpy(dtype=object)
    )
    missing = unlabelled(series)
    alike = alike_as_text(pd.unique(series[~missing].to_numpy(dtype=object)))
    if alike:  # as text they would be trained and scored as one class
        raise GenekbError(
            f"the labels {alike[0]!r} and {alike[1]!r} are different values that read alike as"
            " text, so they would be one class; make the label column one kind (e.g. all text)"
        )
    # a reference saved as floats (1.0) and a query as integers (1) name one class
    out = same_numbers_alike(series.astype(str).where(~missing, "")).to_numpy(dtype=object)
    out[missing] = None
    return out


def ordered_classes(predictions: np.ndarray, order: list[str] | None = None) -> pd.Categorical:
    """The predictions as a categorical whose classes follow `order` (`class_order`); classes
    it lacks come after, sorted."""
    names = np.asarray(predictions).astype(str)
    present = set(names.tolist())
    first = [c for c in dict.fromkeys(order or []) if c in present]
    return pd.Categorical(names, categories=first + sorted(present - set(first)))


def class_sizes(values: np.ndarray) -> pd.Series:
    known = values[values != None]  # noqa: E711 (elementwise comparison on an object array)
    return pd.Series(known).value_counts().sort_index()


def check_reference_labels(values: np.ndarray, key: str | None = None) -> None:
    """Refuse a reference whose labels name fewer than 2 classes: every query cell would get
    its one label (or none), whatever it is."""
    sizes = class_sizes(values)
    if len(sizes) >= 2:
        return
    found = f"only the class {sizes.index[0]!r}" if len(sizes) else "no labels"
    holder = f"label column {key!r} holds" if key else "labels hold"
    raise GenekbError(
        f"the reference's {holder} {found}; label transfer needs at least 2"
        " classes: choose another reference_label_key= or a reference labelled with several"
        " cell types"
    )


def _check_classes(sizes: pd.Series, few_labels: bool = False) -> None:
    """Refuse labels of fewer than two classes, or of one cell per class (a copy of the ids).
    `few_labels`: a train mask over a column that leaves cells to predict, where one labelled
    cell per class is the few-label case itself, not a column of ids."""
    if not len(sizes):
        raise GenekbError(
            "the label key holds no labels (every value is missing or blank); choose the column"
            " of the cells' labels"
        )
    if len(sizes) < 2:
        raise GenekbError(
            f"the label key holds only the class {sizes.index[0]!r}; classification needs at"
            " least 2 classes: label cells of a second class or choose another label key"
        )
    if len(sizes) > 2 and sizes.max() == 1 and not few_labels:  # none could train and score
        raise GenekbError(
            f"the label key gives each of its {len(sizes)} labelled cells a class of its own (a"
            " cell id?); choose the column of the cells' types"
        )


def _check_not_measured(labels: LabelsLike, sizes: pd.Series) -> None:
    """Refuse numbers of many values, each a class of a cell or two (n_counts, n_genes,
    percent_mito): a measurement, not a label. Split, they were refused as "class '2141' has 1
    cell(s)" (and capped, run to an accuracy of 0.003); cluster ids and coded types repeat."""
    values = pd.Series(np.asarray(labels) if not isinstance(labels, pd.Series) else labels)
    if not pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
        return
    n = int(sizes.sum())
    if len(sizes) > 20 and n < 3 * len(sizes):  # under 3 cells a class on average
        raise GenekbError(
            f"the label key holds {len(sizes)} different numbers for {n} labelled cells (e.g."
            f" {sizes.index[0]!r}), {n / len(sizes):.1f} cells each: a measurement, not the"
            " cells' types; choose the column of the cells' labels"
        )


def _unlabelled_hint(labels: LabelsLike, values: np.ndarray) -> str:
    """Where some cells have no label, the way to predict them from the labelled rest: a column
    half empty reads as 'these are to predict', which no split option says."""
    n = sum(v is None for v in values)
    if not n or n == len(values):
        return ""
    column = f"adata.obs[{labels.name!r}]" if isinstance(labels, pd.Series) else "labels"
    # .notna() alone marks a cell labelled "" or "Unknown" as labelled: name those values too
    raw = pd.Series(np.asarray(labels, dtype=object))
    said = sorted({str(v) for v in raw[unlabelled(raw) & ~raw.isna()]})
    test = f"{column}.notna()" if not said else f"~{column}.isin({said!r})"
    if said and raw.isna().any():
        test += f" & {column}.notna()"
    return (
        f"; {n} cell(s) have no label: to predict them from the labelled ones, give as the train"
        f" mask a column True where a cell has one ({test})"
    )


def split(
    labels: LabelsLike,
    *,
    train_fraction: float | None = None,
    per_class: int | None = None,
    train_mask: Sequence[bool] | np.ndarray | None = None,
    seed: int = 0,
    small_classes: SmallClasses = "error",
) -> np.ndarray:
    """A boolean training mask, stratified by class; cells without a label are never training.

    Give exactly one of `train_fraction` (each class contributes round(f × size) cells, at least
    1) or `per_class` (N cells from each class); each class keeps at least one held-out cell. Or
    pass `train_mask` to check and use a split of your own.
    `small_classes`: "error" rejects a class too small for the request; "cap" trains on all but
    one of its cells (a one-cell class then has no training cell and its cell counts as an error).
    """
    values = label_array(labels)
    sizes = class_sizes(values)
    # One labelled cell per class and the rest to predict: the few-label case, no id column.
    few_labels = train_mask is not None and any(v is None for v in values)
    _check_classes(sizes, few_labels)
    if not few_labels:
        _check_not_measured(labels, sizes)
    if small_classes not in SMALL_CLASSES:
        raise UsageError(f"unknown small_classes {small_classes!r}; choose one of error, cap")
    if train_mask is not None:
        if train_fraction is not None or per_class is not None:
            raise UsageError("give a train mask or a train fraction / per-class count, not both")
        return checked_mask(values, train_mask, labels)
    if (train_fraction is None) == (per_class is None):
        raise UsageError(
            "say which cells are labelled: exactly one of a train fraction (train_fraction=),"
            " a per-class count (per_class=) or a train mask (train_mask=)"
            + _unlabelled_hint(labels, values)
        )
    if train_fraction is not None and (
        not isinstance(train_fraction, numbers.Real) or not 0 < train_fraction < 1
    ):
        raise UsageError(
            f"the train fraction must lie strictly between 0 and 1 (got {train_fraction!r})"
        )
    if per_class is not None and (not is_whole(per_class) or per_class < 1):
        raise UsageError(
            f"the per-class count must be a whole number, at least 1 (got {per_class!r})"
        )

    wanted = {
        c: per_class if per_class is not None else max(1, round(float(train_fraction) * n))
        for c, n in sizes.items()
    }
    short = {c: n for c, n in sizes.items() if n < wanted[c] + 1}
    if short and small_classes == "error":
        name, n = next(iter(sorted(short.items(), key=lambda item: item[1])))
        need = wanted[name] + 1
        more = f" (and {len(short) - 1} more)" if len(short) > 1 else ""
        raise GenekbError(
            f"class {name!r} has {n} cell(s) but {need} are needed ({need - 1} to train, 1 to"
            f" test){more}{_typed_apart(name, values)}; label more cells, merge or drop small"
            " classes, or train on all but one cell of each (small_classes='cap')"
        )
    mask = first_cells(values, {c: min(wanted[c], n - 1) for c, n in sizes.items()}, seed)
    trained = len(class_sizes(values[mask]))
    if trained < 2:  # capping leaves a one-cell class nothing to train on
        raise GenekbError(
            f"capped at all but one cell per class, {trained} class(es) keep a training cell;"
            " classification needs 2: label more cells of the one-cell classes or drop them"
        )
    return mask


def first_cells(values: np.ndarray, counts: dict[Any, int], seed: int) -> np.ndarray:
    """Mask of each class's first `counts[class]` cells in one seeded order of all the cells.
    One draw over the cells, not one per class in the classes' name order, so the same
    partition under other names gets the same cells."""
    order = np.random.default_rng(seed).permutation(len(values))
    mask = np.zeros(len(values), dtype=bool)
    for name, n in counts.items():
        mask[order[values[order] == name][:n]] = True
    return mask


def first_seen(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The classes in the order they first occur, and each cell's code 0..C-1 in that order.
    Whatever follows the codes by position (votes, pseudo-labels, a block's columns) then does
    not depend on the classes' names."""
    names, first, inverse = np.unique(labels.astype(str), return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(first))
    return names[order], rank[inverse.ravel()]


def _typed_apart(name: str, values: np.ndarray) -> str:
    """Where the too-small class is another class typed with other case or spaces ('B cell '
    beside 'B cell'), say so: the count alone sent users to label more cells."""
    group = next((g for g in lookalike_classes(values) if name in g), None)
    if group is None:
        return ""
    others = " and ".join(repr(g) for g in group if g != name)
    return (
        f" ({name!r} differs from {others} only in case or spaces: write them alike if they are"
        " one class)"
    )


def aligned_mask(train_mask: object, cells: pd.Index) -> object:
    """A train mask given as a Series keyed by the cells' names, put in the cells' order: read by
    position, a mask built in another order marked other cells than it names. A Series indexed
    0, 1, … (a RangeIndex names no cell) and anything else is read by position; a Series keyed
    by other names is refused."""
    if not isinstance(train_mask, pd.Series) or train_mask.index.equals(cells):
        return train_mask
    index = train_mask.index
    if isinstance(index, pd.RangeIndex):
        return train_mask
    if index.is_unique and len(index) == len(cells) and index.isin(cells).all():
        return train_mask.reindex(cells)
    raise UsageError(
        f"the train mask is a Series whose index is not this AnnData's cells: it is keyed by"
        f" {len(index)} cell name(s), not the data's {len(cells)} (e.g."
        f" {next((c for c in index if c not in cells), index[0])!r} is no cell, or a cell is"
        " missing); index it by obs_names, or give its values in the cells' order"
        " (mask.to_numpy())"
    )


def checked_mask(
    values: np.ndarray, train_mask: Sequence[bool] | np.ndarray, labels: LabelsLike = None
) -> np.ndarray:
    """`train_mask` as booleans, checked against the label `values` (`label_array`);
    `labels`, as given, name the words read as no label."""
    mask = np.asarray(train_mask)
    if mask.dtype != bool:
        # A nullable boolean column arrives as objects with pd.NA, which `isin` cannot compare.
        missing = int(np.count_nonzero(pd.isna(mask)))
        if missing:
            raise UsageError(
                f"the train mask has no value for {missing} of {mask.size} cell(s); mark each"
                " cell True (train on it) or False (classify it)"
            )
        if not np.isin(mask, [0, 1]).all():
            found = ", ".join(repr(v) for v in pd.unique(mask.ravel())[:4].tolist())
            words = {str(v).strip().casefold() for v in pd.unique(mask.ravel())}
            if words <= {"true", "false"}:  # a boolean column read back as text
                raise UsageError(
                    f"the train mask holds the words {found}, text rather than booleans;"
                    " store it as a bool column (in Python: obs[col] = obs[col] == 'True')"
                )
            raise UsageError(
                f"the train mask must hold booleans (True for training cells), not {found};"
                " write it as a True/False column"
            )
        mask = mask.astype(bool)
    if mask.shape != values.shape:
        raise UsageError(
            f"the train mask has {mask.size} entries but there are {len(values)} cells"
        )
    none = mask & (values == None)  # noqa: E711
    if none.any():
        raise GenekbError(
            f"{int(none.sum())} training cell(s) have no label{_said_none(labels, none)};"
            " label them or unmask them"
        )
    if not mask.any():
        raise UsageError("the train mask selects no cell; mark the training cells True")
    trained = class_sizes(values[mask])
    if len(trained) < 2:
        raise GenekbError("the training cells cover fewer than 2 classes; nothing to learn")
    return mask.copy()


def _said_none(labels: LabelsLike, cells: np.ndarray) -> str:
    """Of `cells`, those whose label is a word for none ("NA"): "no label" beside a column that
    shows one, without this, read as wrong."""
    if labels is None:
        return ""
    raw = pd.Series(np.asarray(labels, dtype=object))[cells]
    said = sorted({str(v).strip() for v in raw[~raw.isna()] if str(v).strip()})
    return f" ({', '.join(map(repr, said))} read as none)" if said else ""


def lookalike_classes(values: np.ndarray) -> list[tuple[str, ...]]:
    """Classes whose names differ only in case or surrounding spaces ('T cell', 't cell ',
    'T cell'): most likely one cell type typed two ways, which the classifier keeps apart."""
    return lookalike_names(class_sizes(values).index)


def unseen_notes(train: np.ndarray, evaluated: np.ndarray) -> list[str]:
    """Classes among the scored cells that no training cell has: they can never be predicted."""
    trained = list(class_sizes(train).index)
    scored = list(class_sizes(evaluated).index)
    unseen = sorted(set(scored) - set(trained))
    if not unseen:
        return []
    note = f"{len(unseen)} class(es) have no training cell and cannot be predicted: "
    note += listed(unseen, 5)
    if len(unseen) == len(scored):  # not one scored cell can be right
        note += (
            f"; no scored class is a training class ({listed(trained, 5)}), so every score is 0:"
            " check that both label columns name the cell types alike"
        )
    # 'b cell' / 'B cell ' read as two names in a list: name the pair, the likely cause
    alike = next((g for g in lookalike_names([*trained, *unseen]) if set(g) & set(unseen)), None)
    if alike is not None:
        note += (
            f"; e.g. {listed(map(repr, alike))} differ only in case or spaces: write the labels of"
            " training and scored cells alike"
        )
    return [note]


class UnseenClassesWarning(GenekbWarning):
    """Some of the scored cells' classes have no training cell: they cannot be predicted, and
    the scores count each of their cells as a miss."""


def warn_unseen(notes: list[str]) -> None:
    """Each `unseen_notes` note as an `UnseenClassesWarning` (in memory and out of core alike)."""
    for note in notes:  # a class no training cell has scores 0 whatever the view
        warn(note, UnseenClassesWarning)
