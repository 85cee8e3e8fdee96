"""`cm.pl.markers`: a dot plot of each group's top marker genes and of the genes behind its name
(dot size: share of the group's cells expressing the gene; colour: its mean log expression,
scaled per gene; a ring where the gene carried the group's name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from cellmodel._settings import ANNOTATION_KEY
from cellmodel.arguments import is_whole
from cellmodel.pl.calls import annotate_report
from genekb.ensembl import parse_ensembl
from genekb.errors import GenekbError, UsageError, listed
from genekb.pl import axes_for, check_target, finish, style


def _name_genes(entry: dict[str, Any]) -> list[str]:
    """The genes that carried a group's name, as the data name them (`signature` where a report
    lacks `signature_data_names`)."""
    return list(entry.get("signature_data_names") or entry.get("signature") or [])


def _read_as(report: dict[str, Any]) -> dict[str, Any]:
    """The layer and gene names the annotation read (`report["input"]`), to read them alike (X
    and var_names for a report written before they were recorded)."""
    given = report.get("input")
    if not isinstance(given, dict):
        return {}
    source = str(given.get("source", "X"))
    layer = None if source == "X" else source.removeprefix("layers/")
    return {"layer": layer, "gene_key": given.get("gene_key")}


def _marker_genes(entry: dict[str, Any]) -> list[str]:
    """A group's markers as the data name them (`markers`, by symbol, where a report lacks
    `markers_data_names`: a file of Ensembl ids then drew none of its markers)."""
    return list(entry.get("markers_data_names") or entry.get("markers") or [])


def _symbols(report: dict[str, Any]) -> dict[str, str]:
    """Each Ensembl id among the report's genes -> its symbol, to label a file of Ensembl ids
    (other names stay the data's own: an alias is what the user knows the gene by)."""
    pairs = {}
    for entry in report["groups"]:
        for names, symbols in (("markers_data_names", "markers"),
                               ("signature_data_names", "signature")):  # fmt: skip
            pairs.update(zip(entry.get(names) or [], entry.get(symbols) or [], strict=False))
    return {name: symbol for name, symbol in pairs.items() if symbol and parse_ensembl(name)}


def _genes_per_group(report: dict[str, Any], n_genes: int) -> list[tuple[str, list[str]]]:
    """(group, genes): its top `n_genes` markers, then the genes that carried its name."""
    out = []
    for entry in report["groups"]:
        genes = _marker_genes(entry)[:n_genes]
        genes += [g for g in _name_genes(entry) if g not in genes][:n_genes]
        out.append((str(entry["group"]), genes))
    return out


def has_marker_genes(report: dict[str, Any]) -> bool:
    """Whether any group of an annotate report has a gene for the dot plot (none has where
    every group was left unassigned for want of a marker)."""
    return any(genes for _, genes in _genes_per_group(report, 1))


def _group_stats(
    adata: Any, expr: Any, groupby: str, genes: list[str]
) -> tuple[list[str], Any, Any]:
    """Groups, and per group × gene the share of cells expressing it and its mean log value."""
    index = {g: i for i, g in enumerate(expr.genes)}
    columns = [index[g] for g in genes]  # `markers` keeps only the genes the data names
    X = expr.X[:, columns]
    X = X.toarray() if sp.issparse(X) else np.asarray(X)
    # Only the groups that have cells: the mean of an empty one (an unused category, a view of
    # some groups) was NaN, which blanked the scaled colour of every dot of its genes.
    groups = adata.obs[groupby].astype("category").cat.remove_unused_categories()
    names = [str(c) for c in groups.cat.categories]
    codes = np.asarray(groups.cat.codes)
    share = np.array([(X[codes == i] > 0).mean(axis=0) for i in range(len(names))])
    mean = np.array([X[codes == i].mean(axis=0) for i in range(len(names))])
    return names, share, mean


def markers(
    adata: Any,
    *,
    n_genes: int = 3,
    key_added: str = ANNOTATION_KEY,
    ax: Any = None,
    show: bool | None = None,
    save: str | Path | None = None,
) -> Any:
    """Dot plot of each named group's top `n_genes` markers followed by the genes that carried
    its name (`cm.tl.annotate`'s `signature`), against every group; rings mark each group's own
    name genes (labelled by symbol where the data name genes by Ensembl id). `key_added`: the
    annotation to read, as `cm.tl.annotate` was given it.

    Examples
    --------
    >>> import cellmodel as cm
    >>> ax = cm.pl.markers(adata, n_genes=2, show=False)
    >>> ax.get_ylabel()
    'cellmodel_cluster'
    """
    if not is_whole(n_genes) or n_genes < 1:
        raise UsageError(f"n_genes must be a whole number, at least 1 (got {n_genes!r})")
    check_target(ax, save)  # before the expression is read
    report = annotate_report(adata, key_added)
    groupby = report["groupby"]
    if groupby not in adata.obs:
        raise GenekbError(
            f"the annotation named the groups of obs[{groupby!r}], which this AnnData no longer"
            " has; annotate it again (cm.tl.annotate) or put the column back"
        )
    if not has_marker_genes(report):  # was "none of the report's genes is named in the data"
        raise GenekbError(
            "no group of the annotation has a marker gene (each was left unassigned), so the"
            " dot plot has no gene to draw"
        )
    per_group = _genes_per_group(report, n_genes)
    # A report written before `markers_data_names` names its markers by the store's symbol:
    # those the data name otherwise (an alias, an Ensembl id) cannot be looked up and are left out.
    from cellmodel.io import expression

    expr = expression(adata, **_read_as(report))
    known = set(expr.genes)
    genes = list(dict.fromkeys(g for _, gs in per_group for g in gs if g in known))
    if not genes:
        raise GenekbError("none of the report's genes is named in the data; pass the AnnData"
                          " that was annotated")  # fmt: skip
    names, share, mean = _group_stats(adata, expr, groupby, genes)
    _check_groups(names, report)
    span = mean.max(axis=0) - mean.min(axis=0)
    scaled = (mean - mean.min(axis=0)) / np.where(span > 0, span, 1.0)
    name_genes = {str(e["group"]): set(_name_genes(e)) for e in report["groups"]}
    with style():
        fig, ax = axes_for(ax, (1.8 + 0.26 * len(genes), 1.0 + 0.3 * len(names)))
        ys, xs = np.meshgrid(np.arange(len(names)), np.arange(len(genes)), indexing="ij")
        dots = ax.scatter(
            xs.ravel(), ys.ravel(), s=share.ravel() * 60, c=scaled.ravel(), cmap="Reds",
            vmin=0, vmax=1, edgecolors="none",
        )  # fmt: skip
        for y, group in enumerate(names):
            for x, gene in enumerate(genes):
                if gene in name_genes.get(group, ()):
                    ax.scatter(x, y, s=85, facecolors="none", edgecolors="black", linewidths=0.8)
        symbol = _symbols(report)
        ax.set_xticks(range(len(genes)), [symbol.get(g, g) for g in genes], rotation=90, fontsize=7)
        ax.set_yticks(range(len(names)), [_label(report, g) for g in names], fontsize=7)
        ax.set_xlim(-0.6, len(genes) - 0.4)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_ylabel(groupby)
        fig.colorbar(dots, ax=ax, shrink=0.5, label="mean expression (scaled)")
        ax.set_title("markers and the genes behind each name (ringed)")
        return finish(fig, ax, show, save)


def _check_groups(names: list[str], report: dict[str, Any]) -> None:
    """Refuse groups the annotation never named: obs[groupby] changed since (renamed, another
    clustering), and its rows were drawn without names and with no ring."""
    named = {str(entry["group"]) for entry in report["groups"]}
    strange = [name for name in names if name not in named]
    if strange:
        raise GenekbError(
            f"obs[{report['groupby']!r}] holds groups the annotation did not name"
            f" ({listed(strange, 3)}): the column changed"
            " after cm.tl.annotate; annotate it again"
        )


def _label(report: dict[str, Any], group: str) -> str:
    for entry in report["groups"]:
        if str(entry["group"]) == group:
            return f"{group}: {entry['label'] or 'unassigned'}"
    return group
