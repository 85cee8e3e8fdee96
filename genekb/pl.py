"""Pictures of a store (`gk.pl`): a gene's nearest genes and an evaluation beside its controls.

Every plot function follows scanpy: `ax=` draws into given axes, `show=False` returns the axes,
`save=` writes the figure (through a temporary file and a rename). As in matplotlib and scanpy, a
file already at `save` is replaced and missing folders are created (as the command line's
`--plots` folder is); a `save` whose format matplotlib cannot write, or that names a folder, is
refused before anything is drawn. `finish` and `style` are the helpers cellmodel's `cm.pl` shares.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from genekb.errors import GenekbError, UsageError

__all__ = ["eval", "neighbours"]

# scanpy's look: small type, no top/right spines, no grid, white background.
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "legend.frameon": False,
    "figure.facecolor": "white",
    "savefig.dpi": 110,
}
# Fair controls get one grey each; the real vectors are the one coloured bar.
CONTROL_COLOUR = "#9e9e9e"
REAL_COLOUR = "#1f77b4"


@contextlib.contextmanager
def style() -> Iterator[None]:
    """The rc settings every plot of the two packages is drawn under."""
    with plt.rc_context(STYLE):
        yield


def check_target(ax: Any = None, save: Any = None) -> None:
    """Refuse an `ax` that is not matplotlib axes and a `save` that is not a path, in words: each
    would fail inside matplotlib or pathlib, after the drawing."""
    from matplotlib.axes import Axes

    if ax is not None and not isinstance(ax, Axes):
        raise UsageError(
            f"ax= takes matplotlib axes (fig, ax = plt.subplots()), not {type(ax).__name__}"
        )
    if save is not None and not isinstance(save, (str, os.PathLike)):
        raise UsageError(f"save= takes a file path (e.g. 'plot.png'), not {type(save).__name__}")
    if save is not None:
        _check_save(Path(save))


def _check_save(path: Path) -> None:
    """A file matplotlib can write at `path`: the format from its suffix, no folder there, and
    no file where a folder on its way must be (each would fail after the drawing)."""
    from matplotlib.backend_bases import FigureCanvasBase

    if not path.suffix:
        raise UsageError(f"save={str(path)!r} needs a suffix naming the format (.png, .pdf)")
    formats = FigureCanvasBase.get_supported_filetypes()
    if path.suffix[1:].lower() not in formats:
        raise UsageError(
            f"save={str(path)!r}: matplotlib cannot write {path.suffix!r} files; use one of"
            f" {', '.join('.' + f for f in sorted(formats))}"
        )
    if path.is_dir():
        raise UsageError(f"save={str(path)!r} is a folder; name a file in it, e.g. {path}/plot.png")
    existing = next(p for p in path.parents if p.exists())  # "." or "/" at the latest
    if not existing.is_dir():
        raise UsageError(f"save={str(path)!r}: {existing} is a file, not a folder; choose another")


def axes_for(ax: Any, size: tuple[float, float]) -> tuple[Any, Any]:
    """(figure, axes): the given axes and their figure, or a new figure of `size` inches."""
    check_target(ax)
    if ax is not None:
        return ax.figure, ax
    fig, new = plt.subplots(figsize=size)
    return fig, new


def finish(fig: Any, axes: Any, show: bool | None, save: str | Path | None) -> Any:
    """scanpy's ending: write `save` (format from its suffix; a file there is replaced, missing
    folders are created), then return `axes` when
    `show=False`, else show the figure (a notebook draws it) and return None."""
    check_target(save=save)
    if show is not None and not isinstance(show, bool | np.bool_):  # "no" is truthy: it would
        raise UsageError(f"show={show!r} must be True, False or None")  # show
    show = None if show is None else bool(show)  # numpy's False is not `False`, as copy= takes it
    if save is not None:
        from genekb.fileio import atomic_path

        path = Path(save)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GenekbError(
                f"cannot create the folder {path.parent} for save=: {exc.strerror}; choose"
                " another path"
            ) from None
        with atomic_path(path, suffix=".tmp" + path.suffix) as tmp:
            fig.savefig(tmp, bbox_inches="tight", format=path.suffix[1:])
    if show is False:
        return axes
    if show is None and save is not None:
        plt.close(fig)
        return None
    plt.show()
    return None


def neighbours(
    store: Any,
    gene: str,
    k: int = 10,
    *,
    ref: str | None = None,
    model: str | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Any:
    """A gene's `k` nearest genes in one embedding version: cosine similarity of their text
    vectors, as bars (`gk.similar`).

    Examples
    --------
    >>> import genekb as gk
    >>> ax = gk.pl.neighbours("artifacts", "CD3E", k=8, model="minilm", show=False)
    >>> ax.get_title()
    'nearest genes to CD3E (minilm)'
    """
    from genekb.api import DEFAULT_MODEL, embedding_of
    from genekb.query import similar

    version = embedding_of(store, ref, model or DEFAULT_MODEL)
    result = similar(version, gene, k)
    hits = result["hits"][::-1]  # the nearest on top
    with style():
        fig, ax = axes_for(ax, (4.2, 0.6 + 0.28 * len(hits)))
        names = [h["symbol"] for h in hits]
        scores = [h["score"] for h in hits]
        ax.barh(names, scores, color=REAL_COLOUR)
        for y, score in enumerate(scores):
            ax.text(score, y, f" {score:.2f}", va="center", fontsize=7)
        ax.set_xlabel("cosine similarity of the text vectors")
        ax.set_xlim(min(0.0, min(scores, default=0.0)), 1.08)
        ax.set_title(f"nearest genes to {result['query']} ({version.spec.name})")
        return finish(fig, ax, show, save)


def eval(  # `gk.pl.eval` draws what `gk.eval` returns
    report: dict[str, Any],
    task: str | None = None,
    *,
    version: str | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Any:
    """One task's cross-validated score from the real vectors beside its controls (shuffled,
    random, annotation depth, bag of words): mean and std over the folds and seeds.

    `report`: what `gk.eval` returns; `task` and `version` (id or tag) pick one result (default:
    the first that was not skipped).

    Examples
    --------
    >>> import genekb as gk
    >>> report = gk.eval("artifacts", ["dosage-tfs"], seeds=1)
    >>> ax = gk.pl.eval(report, "dosage-tfs", show=False)
    """
    result = _pick_result(report, task, version)
    scores = result["scores"]
    names = list(scores)
    means = np.array([scores[n]["mean"] for n in names])
    stds = np.array([scores[n]["std"] for n in names])
    colours = [REAL_COLOUR if n == "vectors" else CONTROL_COLOUR for n in names]
    metric = result["metric"]
    with style():
        fig, ax = axes_for(ax, (1.2 + 0.55 * len(names), 3.2))
        ax.bar(range(len(names)), means, yerr=stds, color=colours, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
        if metric == "roc_auc":
            ax.axhline(0.5, color="black", linewidth=0.6, linestyle=":")  # chance
        ax.set_ylabel(metric.replace("_", "-").upper() if metric == "roc_auc" else metric)
        ax.set_ylim(0, 1)
        tag = result["version"]["tag"] or result["version"]["id"][:12]
        ax.set_title(f"{result['task']}: {tag}")
        return finish(fig, ax, show, save)


def _pick_result(report: dict[str, Any], task: str | None, version: str | None) -> dict:
    if not isinstance(report, dict) or "results" not in report:
        raise UsageError("report must be what gk.eval returns (a dict with 'results')")
    for result in report["results"]:
        info = result["version"]
        if task is not None and result["task"] != task:
            continue
        if version is not None and version not in (info["id"], info["tag"]):
            continue
        if "skipped" not in result:
            return result
    have = sorted({r["task"] for r in report["results"] if "skipped" not in r})
    raise GenekbError(f"no scored result for task {task!r} in this report; scored: {have}")
