"""`cm.pl.calls`: how sure each name is. Per group, its best candidate names with their scores,
the call's margin over the runner-up, and the groups the method left unassigned."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from cellmodel._settings import ANNOTATION_KEY
from cellmodel.arguments import is_whole
from cellmodel.io import require_anndata
from cellmodel.uns_record import annotation_record
from genekb.errors import GenekbError, UsageError
from genekb.pl import CONTROL_COLOUR, REAL_COLOUR, check_target, finish, style

ABSTAIN_COLOUR = "#d62728"


def annotate_report(adata: Any, key_added: str = ANNOTATION_KEY) -> dict[str, Any]:
    """The report `cm.tl.annotate` stored under `key_added` (`cellmodel.annotate.report_of`), or
    a clear refusal."""
    from cellmodel.annotate import report_of

    require_anndata(adata)
    if not isinstance(key_added, str):  # was told to run cm.tl.annotate with it, which refuses it
        raise UsageError(
            f"key_added={key_added!r} must name the annotation to read, as cm.tl.annotate was"
            f" given it (default {ANNOTATION_KEY!r})"
        )
    if annotation_record(adata, key_added) is None:
        how = "" if key_added == ANNOTATION_KEY else f", key_added={key_added!r}"
        raise GenekbError(f"no annotation in this AnnData; run cm.tl.annotate(adata{how}) first")
    return report_of(adata, key_added)


def _short(label: str, width: int = 34) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def _panel(ax: Any, entry: dict[str, Any], n_top: int) -> None:
    top = [t for t in entry["top"][:n_top] if t["score"] is not None][::-1]
    called = entry["label"]
    labels = [_short(t["label"]) for t in top]
    scores = [t["score"] for t in top]
    colours = [
        REAL_COLOUR if called is not None and t["label"] == called else CONTROL_COLOUR for t in top
    ]
    ax.barh(range(len(top)), scores, color=colours)
    ax.set_yticks(range(len(top)), labels, fontsize=7)
    ax.axvline(0, color="black", linewidth=0.5)
    if called is None:
        ax.set_title(f"{entry['group']}: unassigned (abstained)", color=ABSTAIN_COLOUR, fontsize=8)
    else:
        margin = entry.get("margin")
        how = f"margin {margin:.2f}" if margin is not None else "no runner-up"
        title = f"{entry['group']}: {_short(called, 28)} ({how})"
        if called not in {t["label"] for t in top}:
            # A lineage-first call (or one the marker table supports) can be none of the bars:
            # nothing is coloured, so the title says why, in the report's words.
            why = (entry.get("lineage") or {}).get("why")
            title += "\n" + (
                _short(why, 70) if why else "the call is none of these (see the report)"
            )
        ax.set_title(title, fontsize=8)
    ax.tick_params(axis="x", labelsize=7)


def calls(
    adata: Any,
    *,
    n_top: int = 3,
    ncols: int = 2,
    key_added: str = ANNOTATION_KEY,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Any:
    """Each group's `n_top` candidate names by the run's method score, the call in colour, its
    margin over the runner-up in the title (a call that is none of the bars, as a lineage-first
    call can be, gets the reason beneath); groups the method left unassigned are titled so in red.
    Reads what `cm.tl.annotate` wrote (under `key_added`, as it was given there).

    Examples
    --------
    >>> import cellmodel as cm
    >>> axes = cm.pl.calls(adata, n_top=3, show=False)
    >>> len(axes) >= adata.obs["cellmodel_cluster"].nunique()
    True
    """
    import matplotlib.pyplot as plt

    if not (is_whole(n_top) and is_whole(ncols)) or min(n_top, ncols) < 1:
        raise UsageError(
            f"n_top and ncols must be whole numbers, at least 1 (got {n_top!r}, {ncols!r})"
        )
    check_target(save=save)
    report = annotate_report(adata, key_added)
    groups = report["groups"]
    if not groups:  # an edited record: matplotlib's "Number of rows must be a positive integer"
        raise GenekbError("the annotation names no group; annotate again (cm.tl.annotate)")
    ncols = min(ncols, len(groups))  # ncols=10 for 3 groups drew a figure of 7 empty panels' width
    nrows = math.ceil(len(groups) / ncols)
    with style():
        fig, grid = plt.subplots(
            nrows, ncols, figsize=(4.4 * ncols, 0.55 + nrows * (0.35 + 0.24 * n_top)),
            squeeze=False,
        )  # fmt: skip
        axes = list(grid.ravel())
        for ax, entry in zip(axes, groups, strict=False):
            _panel(ax, entry, n_top)
        for ax in axes[len(groups) :]:
            ax.set_visible(False)
        fig.suptitle(f"names of obs[{report['groupby']!r}] ({report['method']} score)", y=1.0)
        fig.tight_layout()
        return finish(fig, axes[: len(groups)], show, save)
