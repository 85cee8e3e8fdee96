"""`annotate(adata, store)`: name each group of cells from its marker genes' knowledge, zero-shot.

Steps, none of which read a label: (1) map the data's genes to human GeneIDs (mouse genes through
orthologs; the Cell Ontology text and the marker table are human-centred); (2) per group, its top
markers among genes with a gene card, by default those that beat the closest other group
(`MARKER_RULES`; one-vs-rest statistics from `cellmodel.markers`); (3) make sure the store holds
those markers and the fixed hubness background, building only what is missing; (4) embed each
candidate's text with the store's own encoder (over the whole ontology kept as a store
version, `term_vectors`; otherwise cached); (5) score: the markers' card vectors
against the candidates' text (`score`), the genes each candidate's text names (`mentions`), the
genes of GO processes that name the candidate (`processes`), what the data as a whole resemble
(the `context` prior: each candidate's mean text score over the groups, over the whole Cell
Ontology), the three with the prior ("knowledge"), the marker-table baseline (`markerdb`), and
all combined.

The call written to `obs["cellmodel_annotation"]` comes from `method`; every ranking is kept in
`uns["cellmodel"]["annotate"]`, each with its call and margin. The default is `combined`
(`fusion`): for a user's list the marker table and the knowledge, each weighted per group by its
own margin; over the ontology the sum of all. Where one ranking lacks a candidate (no table
entry, no gene named, no process) the others carry it, so free-text labels and CL terms the table
does not cover are still called. The evidence shown for a call: the markers whose cards
match the called label best, the genes the label's text names (with their log-fold change in the
group), and the markers among the label's process genes.
"""

from __future__ import annotations

import time
from dataclasses import fields
from typing import Any

import anndata as ad
import numpy as np

from cellmodel._settings import ANNOTATION_KEY
from cellmodel.annotate.cells import call_cells
from cellmodel.annotate.inputs import groups_of
from cellmodel.annotate.naming import name_groups
from cellmodel.annotate.params import AnnotateParams, check_key_added_free, setup
from cellmodel.annotate.report import write_uns
from cellmodel.annotate.stability import resampled_sums
from cellmodel.io import expression, require_anndata, require_cells_named_once
from cellmodel.knowledge.gene_key_hint import hint_notes
from cellmodel.markers import group_sums
from cellmodel.uns_record import annotation_columns, forget_scanpy_results, is_annotation
from genekb.store.store import Store

OBS_KEY = ANNOTATION_KEY
# The settings `setup` checks, read by name from `annotate`'s own arguments.
_SETTINGS = tuple(f.name for f in fields(AnnotateParams) if f.name != "groupby")


def annotate(
    adata: ad.AnnData,
    store: Store,
    *,
    groupby: str | None = None,
    candidates: list[str] | None = None,
    ontology_subtree: str | None = None,
    tissue: str | None = None,
    method: str = AnnotateParams.method,
    markers: str = AnnotateParams.markers,
    n_markers: int = AnnotateParams.n_markers,
    top_k: int = AnnotateParams.top_k,
    hubness: str = AnnotateParams.hubness,
    pooling: str = AnnotateParams.pooling,
    text_style: str = AnnotateParams.text_style,
    across_groups: str = AnnotateParams.across_groups,
    gene_vectors: str = AnnotateParams.gene_vectors,
    seed: int = AnnotateParams.seed,
    n_background: int = AnnotateParams.n_background,
    model: str = AnnotateParams.model,
    template: str = AnnotateParams.template,
    lineage: str = AnnotateParams.lineage,
    key_added: str = AnnotateParams.key_added,
    resamples: int = AnnotateParams.resamples,
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    build_missing: bool = True,
    load_encoder: Any = None,
    per_cell: bool = False,
    copy: bool = False,
    progress: Any = None,
) -> ad.AnnData:
    """Name each group of `adata.obs[groupby]` with one of the candidate cell types.

    `candidates`: labels as given (free text or CL ids: a call of an id is written as its CL
    label, the id being the group's `cl_id` in the report); None takes Cell Ontology cell types,
    restricted by `ontology_subtree` (a CL id or label) and/or `tissue` (a word). `store`: a genekb
    `Store`. `gene_vectors`: "real", a seeded control ("shuffled", "random"), or "bag-of-words"
    (`words`: the same texts as TF-IDF words). Writes `obs["cellmodel_annotation"]` and
    `uns["cellmodel"]["annotate"]`; with `per_cell`, also each cell's own call and score
    (`cells`: the groups' calls, scored on each cell). `key_added`: the obs column of the names
    (the others are named from it: `_confidence`, `_cell`, `_cell_score`) and where the report
    goes (the default's in `uns["cellmodel"]["annotate"]`, any other in `uns[key_added]`), so a
    second annotation (of another grouping) can sit beside the first. `resamples`: name the
    groups again from that many draws of four in five of their cells (`stability`): each
    lineage-first call's section says how many kept its term and its lineage, and a group whose
    calls cross lineages is called the deepest term they share, or left unnamed where that term
    is generic. `progress`: a `(stage, done, total)` hook for the slow steps (gene cards and
    candidate texts not yet in the store). Returns `adata` (or a copy).
    """
    require_anndata(adata)
    require_cells_named_once(adata)  # as cluster, classify and embed refuse them
    given = locals()
    began = time.perf_counter()
    key, groups = groups_of(adata, groupby)
    settings = {name: given[name] for name in _SETTINGS} | {"index_name": adata.obs.index.name}
    params, cands = setup(key, candidates, ontology_subtree, tissue, **settings)
    _check_key_free(adata, params.key_added)
    adata = adata.copy() if copy else adata

    expr = expression(adata, layer=layer, gene_key=gene_key)
    expr.notes += hint_notes(expr.var, expr.genes, gene_key, taxon)
    codes, k = np.asarray(groups.codes), len(groups.categories)
    sums = group_sums(expr.X, codes, k)
    again = resampled_sums(expr.X, codes, k, params.resamples, params.seed)
    report, labels = name_groups(
        expr.genes, sums, groups, store, params, cands, gene_totals=expr.X, taxon=taxon,
        build_missing=build_missing, load_encoder=load_encoder, began=began, progress=progress,
        resampled=again,
    )  # fmt: skip
    report["input"] = expr.to_dict()  # the matrix and gene names read, as `cm.pl.markers` reads
    _write_obs(adata, params.key_added, labels, report, np.asarray(groups.codes))
    if per_cell:
        calls, best, report["per_cell"] = call_cells(expr.X, expr.genes, report, groups.codes, seed)
        cell_key, cell_score_key = annotation_columns(params.key_added)[2:]
        adata.obs[cell_key], adata.obs[cell_score_key] = calls, best
        report["seconds"] = round(time.perf_counter() - began, 3)
    write_uns(adata, report, params.key_added)
    return adata


def _write_obs(
    adata: ad.AnnData, key: str, labels: Any, report: dict[str, Any], codes: np.ndarray
) -> None:
    """The names into obs[key], and each cell's group call's confidence beside them (the lineage
    walk's smallest margin; `lineage`) where the run has one."""
    names, *optional = annotation_columns(key)
    forget_scanpy_results(adata, [names, *optional])  # of the last names, as the columns go
    adata.obs[names] = labels
    # A run again in place: the last run's optional columns would sit beside the new names.
    adata.obs.drop(columns=[c for c in optional if c in adata.obs], inplace=True)
    confidence = [(e.get("lineage") or {}).get("confidence") for e in report["groups"]]
    if any(c is not None for c in confidence):
        per_group = np.array([np.nan if c is None else c for c in confidence], dtype=float)
        adata.obs[optional[0]] = per_group[codes]


def _check_key_free(adata: ad.AnnData, key: str) -> None:
    """`check_key_added_free` with whether uns holds an annotate record under `key` or something
    else. The default key's columns are annotate's by their name, record or not (`sc.concat`
    drops uns and keeps obs)."""
    if key == OBS_KEY:
        return
    annotated = is_annotation(adata.uns.get(key))
    check_key_added_free(key, adata.obs.columns, annotated, key in adata.uns and not annotated)
