"""`cm.pl.umap`: the cells' UMAP, one panel per obs column (clusters, names, labels side by
side)."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Mapping, Sequence
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from cellmodel._settings import ANNOTATION_KEY, CLUSTER_KEY, MAX_DRAWN, PREDICTION_KEY
from cellmodel.arguments import check_count, check_obs_column, check_seed
from cellmodel.io import require_anndata
from cellmodel.pl.colours import check_alike, continuous, palette, stored_colours
from cellmodel.storage import in_memory
from genekb.errors import GenekbError, GenekbWarning, UsageError, listed, warn
from genekb.pl import check_target, finish, style

UMAP_KEY = "X_umap_cellmodel"  # obsm: the coordinates; uns[UMAP_KEY]["params"]: how they came
NAME_KEY = ANNOTATION_KEY
# What `umap` colours by when not told: the run's columns, then the registry's label column.
DEFAULT_COLUMNS = (CLUSTER_KEY, NAME_KEY, PREDICTION_KEY)
# umap-learn's spectral start fails below this many points (numpy's or scipy's error, not ours).
MIN_UMAP_CELLS = 4


class AmbiguousColorWarning(GenekbWarning):
    """A colour named both an obs column and a gene: the column was drawn."""


def umap_coordinates(latent: np.ndarray, seed: int = 0, n_neighbors: int = 15) -> np.ndarray:
    """2-d UMAP of a latent (cells × d), seeded.

    Examples
    --------
    >>> from cellmodel.pl import umap_coordinates
    >>> umap_coordinates(adata.obsm["X_cellmodel"], seed=0).shape
    (700, 2)
    """
    import umap as umap_learn

    check_count(n_neighbors, "n_neighbors", minimum=2)  # umap-learn's own ValueError below 2
    check_seed(seed)  # umap-learn's own ValueError (and -1 its "random") otherwise
    # as obsm[rep] is read for `umap`: a sparse matrix was a 0-d array, text numpy's TypeError
    latent = _latent(latent, "the matrix to lay out")
    if latent.ndim != 2 or len(latent) < MIN_UMAP_CELLS or latent.shape[1] < 1:
        raise GenekbError(
            f"a UMAP needs a cells × dimensions matrix of at least {MIN_UMAP_CELLS} cells and one"
            f" dimension (got shape {latent.shape}); lay out more cells, or pass another rep="
        )
    if not np.isfinite(latent).all():
        raise GenekbError(
            "the matrix to lay out holds NaN or infinite values; recompute it, or pass another rep="
        )
    reducer = umap_learn.UMAP(
        n_neighbors=min(n_neighbors, max(len(latent) - 1, 2)), random_state=seed, n_jobs=1
    )
    with warnings.catch_warnings():
        # umap notes that a seed means one thread; that is the point of the seed here.
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)
        return np.asarray(reducer.fit_transform(latent), dtype=np.float32)


def _coordinates(adata: Any, rep: str, seed: int) -> np.ndarray:
    """obsm[UMAP_KEY], computed from obsm[rep] unless already there from the same rep and seed."""
    check_seed(seed)
    if rep not in adata.obsm:
        # cm.tl.cluster writes the default rep only: for another (X_pca, X_umap) it is no remedy
        step = "run cm.tl.cluster first or " if rep == "X_cellmodel" else ""
        raise GenekbError(
            f"no obsm[{rep!r}] to lay out; {step}pass rep= one of obsm's keys:"
            f" {listed(adata.obsm) or 'none'}"
        )
    latent = _latent(adata.obsm[rep], f"obsm[{rep!r}]")
    if latent.ndim == 2 and latent.shape[1] == 2:
        # A plane already (scanpy's X_umap, X_tsne): a UMAP of it drew a distorted other picture.
        return latent
    # The layout is kept for the matrix it was computed from, not only its name: a clustering run
    # again in place writes a new obsm[rep], and the old layout would show the new clusters.
    digest = hashlib.blake2b(latent.tobytes(), digest_size=8).hexdigest()
    params = {"rep": rep, "seed": seed, "digest": f"{latent.shape}:{digest}"}
    kept = adata.uns.get(UMAP_KEY)
    held = kept.get("params") if isinstance(kept, Mapping) else None
    # An edited or foreign entry is no layout of this matrix: it is computed again, not read.
    if UMAP_KEY in adata.obsm and isinstance(held, Mapping) and dict(held) == params:
        return np.asarray(adata.obsm[UMAP_KEY])
    xy = umap_coordinates(latent, seed=seed)
    if adata.is_view:
        # Kept on a view, it turned the view into a copy with anndata's ImplicitModificationWarning
        # from a plot call; a view is drawn and left as it was.
        return xy
    adata.obsm[UMAP_KEY] = xy
    adata.uns[UMAP_KEY] = {"params": params}
    return xy


def _latent(matrix: Any, where: str) -> np.ndarray:
    """The matrix `where` names (obsm[rep]) as float32 numbers (a sparse or DataFrame one too);
    text refused in words."""
    dense = matrix.toarray() if sp.issparse(matrix) else np.asarray(matrix)
    if dense.dtype.kind not in "biuf":
        raise GenekbError(f"{where} holds {dense.dtype} values, not numbers; pass another rep=")
    return np.ascontiguousarray(dense, dtype=np.float32)


def default_columns(adata: Any) -> list[str]:
    """The run's columns present, then the registry dataset's label column (if any)."""
    columns = [c for c in DEFAULT_COLUMNS if c in adata.obs]
    entry = adata.uns.get("dataset")  # a registry entry; another tool may keep a name there
    label = entry.get("label_key") if isinstance(entry, Mapping) else None
    if label and label in adata.obs and label not in columns:
        columns.append(label)
    return columns


def _scatter(
    ax: Any,
    xy: np.ndarray,
    values: pd.Series,
    title: str,
    size: float,
    scale: bool = False,
    colours: Mapping[Any, Any] | None = None,
) -> None:
    if scale or continuous(values):
        number = values.to_numpy(dtype=float)
        missing = ~np.isfinite(number)
        ax.scatter(xy[missing, 0], xy[missing, 1], s=size, color="lightgrey", linewidths=0)
        shown = ax.scatter(
            xy[~missing, 0], xy[~missing, 1], s=size, c=number[~missing], cmap="viridis",
            linewidths=0,
        )  # fmt: skip
        ax.figure.colorbar(shown, ax=ax, shrink=0.8)
    else:
        # The column's own order and no "nan" group: astype(str) sorted the groups as text and
        # turned a missing value into "nan" before fillna could see it
        groups = pd.Categorical(values).remove_unused_categories()
        codes = np.asarray(groups.codes)
        drawn = (
            [colours[name] for name in groups.categories]
            if colours is not None
            else palette(len(groups.categories), f"obs[{title!r}]")
        )
        named = _legend_groups(groups)
        for i, name in enumerate(groups.categories):
            mask = codes == i
            label = str(name) if i in named else "_nolegend_"
            ax.scatter(xy[mask, 0], xy[mask, 1], s=size, color=drawn[i], label=label, linewidths=0)
        if len(named) < len(groups.categories):
            title = f"{title} (legend: the {len(named)} largest of {len(groups.categories)})"
        if (codes < 0).any():
            ax.scatter(
                xy[codes < 0, 0], xy[codes < 0, 1], s=size, color="lightgrey", label="NA",
                linewidths=0,
            )  # fmt: skip
        ax.legend(
            markerscale=2.5, fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5),
            ncol=legend_columns(len(named) + int((codes < 0).any())),
        )  # fmt: skip
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("UMAP1")
    ax.set_ylabel("UMAP2")


def _legend_groups(groups: pd.Categorical) -> set[int]:
    """The codes of the groups the legend names: all, or past MAX_DRAWN the largest (a legend of
    hundreds squeezed the plot to nothing)."""
    sizes = np.bincount(
        np.asarray(groups.codes)[groups.codes >= 0], minlength=len(groups.categories)
    )
    return set(np.argsort(-sizes, kind="stable")[:MAX_DRAWN].tolist())


def legend_columns(n_entries: int) -> int:
    """scanpy's rule: one legend column up to 14 entries, two up to 30, three beyond; one
    column of 37 lung types stood taller than the figure and squeezed every panel flat."""
    return 1 if n_entries <= 14 else 2 if n_entries <= 30 else 3


def _names(color: Any) -> list[str]:
    """`color` as a list of column names; anything but a name or a sequence of names refused."""
    if color is None:
        return []
    names = list(color) if isinstance(color, Iterable) else None
    if names is None or not all(isinstance(name, str) for name in names):
        raise UsageError(f"color= takes an obs column name or a list of them, not {color!r}")
    return names


def _legend_shape(values: pd.Series, scale: bool = False) -> tuple[int, int, int]:
    """(longest entry's length, columns, rows) of a panel's legend: the groups it names
    (`_legend_groups`) and NA where values are missing; a colour bar is one short entry."""
    if scale or continuous(values):
        return 8, 1, 1
    groups = pd.Categorical(values).remove_unused_categories()
    named = [str(v) for v in groups.categories[sorted(_legend_groups(groups))]]
    n = len(named) + int(values.isna().any())
    columns = legend_columns(n)
    longest = max((len(v) for v in named), default=2)
    return longest, columns, -(-n // columns)


def _panel(
    adata: Any, name: str, layer: str | None, use_raw: bool | None, gene_symbols: str | None
) -> tuple[pd.Series, bool]:
    """What one panel is coloured by, and whether on a colour scale: the obs column `name`, or
    else the expression of the gene `name` (a var name, or a value of var[gene_symbols]) from
    `.raw` where it is there (as scanpy reads it; use_raw=False for X), or from layers[layer]."""
    if name in adata.obs.columns:
        if _names_a_gene(adata, name, gene_symbols):
            warn(
                f"color={name!r} names an obs column and a gene; drew the column (rename it, e.g."
                f" adata.obs.rename(columns={{{name!r}: 'label'}}), to draw the gene)",
                AmbiguousColorWarning,
            )
        check_alike(adata.obs[name], name)
        return adata.obs[name], False
    if layer is not None and use_raw:
        raise UsageError("use_raw=True and layer= both name the values to draw; give one")
    if layer is not None and layer not in adata.layers:
        shown = listed(adata.layers) or "none"
        raise UsageError(f"layer={layer!r} is not a layer; choose from: {shown}")
    raw = adata.raw is not None and layer is None and use_raw is not False
    if use_raw and adata.raw is None:
        raise UsageError("use_raw=True but this AnnData has no .raw; pass use_raw=False")
    var = adata.raw.var if raw else adata.var
    if gene_symbols is not None and gene_symbols not in var.columns:
        # .raw keeps the var of the day it was set: a column added since is in X's var only
        hint = "; X's var has it: pass use_raw=False" if raw and gene_symbols in adata.var else ""
        raise UsageError(
            f"gene_symbols={gene_symbols!r} is not a var column{' of .raw' if raw else ''};"
            f" choose from: {listed(var.columns) or 'none'}{hint}"
        )
    genes = var[gene_symbols] if gene_symbols is not None else var.index
    hits = np.flatnonzero(np.asarray(genes.astype(str)) == name)
    where = f"{'.raw' if raw else 'X'}'s {gene_symbols or 'var names'}"
    if len(hits) > 1:
        raise UsageError(
            f"color={name!r} names {len(hits)} genes of {where}; make the names unique"
            " (adata.var_names_make_unique()) or pass gene_symbols= a column of unique names"
        )
    if not len(hits):
        hint = _gene_hint(adata, var, name, raw) if gene_symbols is None else ""
        check_obs_column(
            adata.obs, name, "color",
            other=f"a gene of {where}, e.g. {listed(genes[:3], 3)}{hint}",
        )  # fmt: skip
    matrix = adata.raw.X if raw else (adata.layers[layer] if layer is not None else adata.X)
    # One gene of a lazy (dask) matrix computed: numpy read one of sparse chunks as objects.
    column = in_memory(matrix[:, int(hits[0])])
    values = column.toarray() if sp.issparse(column) else np.asarray(column)
    if values.dtype.kind not in "biuf":
        raise GenekbError(f"the expression of {name!r} is {values.dtype}, not numbers")
    return pd.Series(values.ravel().astype(float), index=adata.obs_names, name=name), True


def _gene_hint(adata: Any, var: pd.DataFrame, name: str, raw: bool) -> str:
    """Where a gene not among the names searched is: a column of that var, or, when .raw was
    searched, X's own var (a symbols column added after `adata.raw = adata` is X's only)."""
    named_in = _gene_column(var, name)
    if named_in:
        return f" (it is in var[{named_in!r}]: pass gene_symbols={named_in!r})"
    named_in = _gene_column(adata.var, name) if raw else None
    if named_in:
        return f" (it is in X's var[{named_in!r}]: pass gene_symbols={named_in!r}, use_raw=False)"
    return ""


def _gene_column(var: pd.DataFrame, name: str) -> str | None:
    """The var column of text that holds `name` (a file of Ensembl ids keeps its symbols in
    one, e.g. `gene_symbols`), or None."""
    for column in var.columns:
        values = var[column]
        text = values.dtype.kind in "OSU" or isinstance(values.dtype, pd.CategoricalDtype)
        if text and (np.asarray(values.astype(str)) == name).any():
            return str(column)
    return None


def _names_a_gene(adata: Any, name: str, gene_symbols: str | None) -> bool:
    """Whether `name` is also a gene of X or .raw (a var name, or a value of var[gene_symbols])."""
    frames = [adata.var] + ([adata.raw.var] if adata.raw is not None else [])
    for var in frames:
        genes = var[gene_symbols] if gene_symbols in var.columns else var.index
        if (np.asarray(genes.astype(str)) == name).any():
            return True
    return False


def umap(
    adata: Any,
    color: str | Sequence[str] | None = None,
    *,
    rep: str = "X_cellmodel",
    seed: int = 0,
    size: float | None = None,
    ax: Any = None,
    show: bool | None = None,
    save: str | Path | None = None,
    layer: str | None = None,
    use_raw: bool | None = None,
    gene_symbols: str | None = None,
) -> Any:
    """The cells' UMAP of `obsm[rep]` (default: the clustering's latent), coloured by each obs
    column or gene of `color` in panels side by side; default: clusters, names, predictions and
    the registry's reference labels, whichever are present. A gene (a var name, or a value of
    `var[gene_symbols]`) is drawn on a colour scale from `.raw` where present (`use_raw=False`:
    X), or from `layers[layer]`. The coordinates are kept in `obsm["X_umap_cellmodel"]`
    (computed once per rep and seed; a view's are drawn, not kept); a rep of two columns
    (scanpy's `X_umap`) is drawn as it is.
    A categorical column takes scanpy's colours from `uns[column + "_colors"]` where they are kept.

    Examples
    --------
    >>> import cellmodel as cm
    >>> axes = cm.pl.umap(adata, ["cellmodel_cluster", "bulk_labels"], show=False)
    >>> [a.get_title() for a in axes]
    ['cellmodel_cluster', 'bulk_labels']
    """
    import matplotlib.pyplot as plt

    require_anndata(adata)
    check_target(ax, save)  # before the layout is computed
    if size is not None and (isinstance(size, bool) or not isinstance(size, Real) or not size > 0):
        # an array's repr ran over many lines; scanpy's per-cell sizes are one number here
        shown = repr(size) if np.ndim(size) == 0 else f"<{type(size).__name__} of {np.size(size)}>"
        raise UsageError(f"size={shown} must be a positive number (points²), or None")
    columns = [color] if isinstance(color, str) else list(_names(color) or default_columns(adata))
    if not columns:
        raise GenekbError("nothing to colour by: pass color= (obs columns) or run cm.tl.cluster")
    panels = [_panel(adata, column, layer, use_raw, gene_symbols) for column in columns]
    if ax is not None and len(columns) > 1:
        raise GenekbError("ax= takes one panel; give one color column, or no ax")
    xy = _coordinates(adata, rep, seed)
    point = size if size is not None else max(120_000 / max(adata.n_obs, 1) ** 1.2, 1.0)
    with style():
        if ax is None:
            # Room for each panel's legend: its longest name and its columns set the panel's
            # width, its rows the figure's height (0.13 inch a row at 6 points).
            shapes = [_legend_shape(values, scale) for values, scale in panels]
            widths = [3.2 + (0.055 * longest + 0.4) * n for longest, n, _ in shapes]
            height = max(3.4, 0.6 + 0.13 * max(rows for *_, rows in shapes))
            fig, grid = plt.subplots(
                1, len(columns), figsize=(sum(widths), height), squeeze=False, layout="constrained",
                gridspec_kw={"width_ratios": widths},
            )  # fmt: skip
            axes = list(grid[0])
        else:
            fig, axes = ax.figure, [ax]
        for panel, column, (values, scale) in zip(axes, columns, panels, strict=True):
            # scanpy's colours of the column where kept: the same group the same colour in
            # sc.pl.umap's picture and here (a palette set for a figure was ignored)
            colours = None if scale else stored_colours(adata, column, values)
            _scatter(panel, xy, values, column, min(point, 20.0), scale, colours)
        return finish(fig, axes if len(axes) > 1 else axes[0], show, save)
