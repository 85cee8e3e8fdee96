"""`annotate(adata, store)`: name each group of cells from its marker genes' knowledge, zero-shot.

Steps, none of which read a label: (1) map the data's genes to human GeneIDs (mouse genes through
orthologs; the Cell Ontology text and the marker table are human-centred); (2) per group, its top
markers among genes with a gene card, by default those that beat the closest other group
(`MARKER_RULES`; one-vs-rest statistics from `cellmodel.markers`); (3) make sure the store holds
those markers and the fixed hubness background, building only what is missing; (4) embed each
candidate's text with the store's own encoder (cached); (5) score: the markers' card vectors
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
from dataclasses import asdict
from pathlib import Path
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel._settings import DEFAULT_ANNOTATE_METHOD
from cellmodel.annotate import fusion, markerdb, mentions, ontology, processes, score
from cellmodel.annotate.cells import (
    OBS_KEY_CELL,
    OBS_KEY_CELL_SCORE,
    call_cells,
    signature_columns,
)
from cellmodel.annotate.inputs import (
    DEFAULT_N_BACKGROUND,
    background_ids,
    embed_texts,
    group_markers,
    groups_of,
    reference,
    store_vectors,
)
from cellmodel.annotate.methods import CONTEXT, channels_of
from cellmodel.annotate.ontology import Candidate
from cellmodel.annotate.params import DEFAULT_N_MARKERS, AnnotateParams, setup
from cellmodel.annotate.report import _write_uns, channel_entry, provenance, ranked
from cellmodel.annotate.words import bag_of_words

OBS_KEY = "cellmodel_annotation"
N_EVIDENCE_SHOWN = 5
TOP_SHOWN = 3
N_CONTEXT_SHOWN = 5


def annotate(
    adata: ad.AnnData,
    store: Any,
    *,
    groupby: str | None = None,
    candidates: list[str] | None = None,
    ontology_subtree: str | None = None,
    tissue: str | None = None,
    method: str = DEFAULT_ANNOTATE_METHOD,
    markers: str = "specific",
    n_markers: int = DEFAULT_N_MARKERS,
    top_k: int = score.DEFAULT_TOP_K,
    hubness: str = score.DEFAULT_HUBNESS,
    pooling: str = score.DEFAULT_POOLING,
    text_style: str = ontology.DEFAULT_TEXT_STYLE,
    across_groups: str = "auto",
    gene_vectors: str = "real",
    seed: int = 0,
    n_background: int = DEFAULT_N_BACKGROUND,
    model: str = "minilm",
    template: str = "ncbi-card",
    taxon: str | None = None,
    gene_key: str | None = None,
    layer: str | None = None,
    build_missing: bool = True,
    load_encoder: Any = None,
    per_cell: bool = False,
    copy: bool = False,
) -> ad.AnnData:
    """Name each group of `adata.obs[groupby]` with one of the candidate cell types.

    `candidates`: labels as given (free text or CL ids); None takes Cell Ontology cell types,
    restricted by `ontology_subtree` (a CL id or label) and/or `tissue` (a word). `store`: a genekb
    `Store`. `gene_vectors`: "real", a seeded control ("shuffled", "random"), or "bag-of-words"
    (`words`: the same texts as TF-IDF words). Writes `obs["cellmodel_annotation"]` and
    `uns["cellmodel"]["annotate"]`; with `per_cell`, also each cell's own call and score
    (`cells`: the groups' calls, scored on each cell). Returns `adata` (or a copy).
    """
    from cellmodel.io import expression
    from cellmodel.markers import group_sums

    began = time.perf_counter()
    key, groups = groups_of(adata, groupby)
    params, cands = setup(
        key,
        candidates,
        ontology_subtree,
        tissue,
        method=method,
        markers=markers,
        n_markers=n_markers,
        top_k=top_k,
        hubness=hubness,
        pooling=pooling,
        text_style=text_style,
        across_groups=across_groups,
        gene_vectors=gene_vectors,
        seed=seed,
        n_background=n_background,
        model=model,
        template=template,
    )
    if copy:
        adata = adata.copy()

    expr = expression(adata, layer=layer, gene_key=gene_key)
    sums = group_sums(expr.X, np.asarray(groups.codes), len(groups.categories))
    report, labels = name_groups(
        expr.genes,
        sums,
        groups,
        store,
        params,
        cands,
        gene_totals=expr.X,
        user_candidates=candidates is not None,
        ontology_subtree=ontology_subtree,
        tissue=tissue,
        taxon=taxon,
        build_missing=build_missing,
        load_encoder=load_encoder,
        began=began,
    )
    adata.obs[OBS_KEY] = labels
    if per_cell:
        calls, best, report["per_cell"] = call_cells(expr.X, expr.genes, report, groups.codes, seed)
        adata.obs[OBS_KEY_CELL], adata.obs[OBS_KEY_CELL_SCORE] = calls, best
        report["seconds"] = round(time.perf_counter() - began, 3)
    _write_uns(adata, report)
    return adata


def name_groups(
    genes: list[str],
    sums: Any,
    groups: pd.Categorical,
    store: Any,
    params: AnnotateParams,
    cands: list[Candidate],
    *,
    gene_totals: Any,
    user_candidates: bool,
    ontology_subtree: str | None,
    tissue: str | None,
    taxon: str | None,
    build_missing: bool,
    load_encoder: Any,
    began: float,
) -> tuple[dict[str, Any], pd.Categorical]:
    """Name the groups from their per-group gene sums (`markers.GroupSums` over the data's
    `genes`, however gathered: in memory or chunk by chunk); returns the report and each cell's
    label. `gene_totals`: any matrix whose column sums are the genes' totals (the match report
    reads only those)."""
    from cellmodel.explain import _describe
    from cellmodel.genes import match_genes, require_gene_names
    from cellmodel.semantic import control_vectors

    method, markers, n_markers = params.method, params.markers, params.n_markers
    top_k, hubness, pooling = params.top_k, params.hubness, params.pooling
    model, template, key = params.model, params.template, params.groupby
    text_style, across_groups = params.text_style, params.across_groups
    gene_vectors, seed, n_background = params.gene_vectors, params.seed, params.n_background
    candidates = True if user_candidates else None
    taxon = require_gene_names(genes, taxon, "annotate")
    ref = reference()
    match = match_genes(genes, ref, store_taxon="human", data_taxon=taxon, X=gene_totals)
    symbol_of = dict(zip(ref["gene_id"].astype(int), ref["symbol"], strict=True))
    matched = np.flatnonzero(match.matched)
    codes = np.asarray(groups.codes)
    k = len(groups.categories)
    stats = sums.columns(matched).stats()
    tops = group_markers(stats, n_markers * 2, markers)  # room for genes sharing a GeneID
    lfc = stats.means - stats.rest_means
    marker_ids: list[np.ndarray] = []
    marker_cols: list[np.ndarray] = []
    for g in range(k):
        ids = match.gene_ids[matched[tops[g]]]
        _, first = np.unique(ids, return_index=True)
        keep = np.sort(first)[:n_markers]
        marker_ids.append(ids[keep])
        marker_cols.append(tops[g][keep])
    bg = background_ids(n_background)
    all_ids = np.unique(np.concatenate([*marker_ids, bg]))
    ev = store_vectors(store, all_ids, model=model, template=template, build_missing=build_missing)
    vecs, found = ev.vectors([int(g) for g in all_ids])
    row = {int(g): i for i, g in enumerate(all_ids)}
    texts = [ontology.candidate_text(c, text_style) for c in cands]
    records = ev.genes()
    records = records.set_index(records["gene_id"].astype(int))
    if gene_vectors == "bag-of-words":
        cards = records["text"].reindex([int(g) for g in all_ids]).fillna("").tolist()
        vecs, labels = bag_of_words(cards, texts)
    else:
        vecs = control_vectors(vecs, found, gene_vectors, seed)
        labels = embed_texts(texts, ev, load_encoder)
    bg_rows = [row[int(g)] for g in bg if found[row[int(g)]]]

    stacked = np.concatenate(marker_ids)
    sims_all = score.corrected_similarity(
        vecs[[row[int(g)] for g in stacked]], labels, vecs[bg_rows], hubness
    )
    bounds = np.cumsum([0, *[len(m) for m in marker_ids]])
    present = found[[row[int(g)] for g in stacked]]
    text_scores = np.zeros((k, len(cands)))
    group_sims: list[np.ndarray] = []
    for g in range(k):
        sims = sims_all[bounds[g] : bounds[g + 1]][present[bounds[g] : bounds[g + 1]]]
        group_sims.append(sims)
        text_scores[g] = score.pool(sims, pooling, top_k)
    across = across_groups == "on" or (across_groups == "auto" and candidates is not None)
    if across and k > 2:
        text_scores = score.standardise_columns(text_scores)
    whole_ontology = candidates is None and not (ontology_subtree or tissue)
    prior = score.context(text_scores, on=whole_ontology and not across)

    data_symbols = [symbol_of.get(int(i), "") for i in match.gene_ids[matched]]
    marker_symbols = [[symbol_of.get(int(i), "") for i in ids] for ids in marker_ids]
    root = getattr(store, "root", None)
    db = markerdb.score_groups(
        marker_symbols,
        data_symbols,
        [c.cl_id for c in cands],
        cache_dir=str(Path(root) / "cache" / "markerdb") if root is not None else None,
    )
    ment = mentions.score_groups(
        cands, lfc, match.gene_ids[matched], gene_vectors=gene_vectors, seed=seed
    )
    proc = processes.score_groups(
        cands, marker_ids, match.gene_ids[matched], gene_vectors=gene_vectors, seed=seed
    )
    channel = {
        "text": text_scores,
        "mentions": ment.scores,
        "processes": proc.scores,
        "markerdb": db.scores,
        CONTEXT: prior,
    }
    matrices, weights = fusion.rankings(channel, method, closed_list=user_candidates)
    chosen = matrices[method]
    context_top = ranked(cands, prior[0], N_CONTEXT_SHOWN)[1] if np.isfinite(prior).any() else []

    out_groups: list[dict[str, Any]] = []
    for g in range(k):
        calls = {name: ranked(cands, m[g], TOP_SHOWN) for name, m in matrices.items()}
        pick = calls[method][0]
        best = cands[pick.best]
        present_g = present[bounds[g] : bounds[g + 1]]
        ids_g, cols_g = marker_ids[g][present_g], marker_cols[g][present_g]
        ev_idx = score.evidence(group_sims[g][:, pick.best], top_k)
        evidence = [
            {
                "gene": symbol_of.get(int(ids_g[i]), str(ids_g[i])),
                "similarity": round(float(group_sims[g][i, pick.best]), 3),
                "log_fold_change": round(float(lfc[g, cols_g[i]]), 3),
                "description": _describe(records, int(ids_g[i])),
            }
            for i in ev_idx[:N_EVIDENCE_SHOWN]
        ]
        mentioned = ment.evidence(lfc, g, pick.best)
        named = [
            {"words": words, "gene": data_symbols[col], "log_fold_change": round(value, 3)}
            for words, col, value in mentioned[:N_EVIDENCE_SHOWN]
        ]
        in_process = proc.overlap(marker_ids[g], pick.best)
        process_genes = [symbol_of.get(i, "") for i in in_process]
        table_genes = db.overlap(g, pick.best)
        in_table = table_genes[:10]
        signature = signature_columns(
            channels_of(method),
            text=[cols_g[i] for i in ev_idx],
            named=[col for _, col, value in mentioned if value > 0],
            marker_cols=marker_cols[g],
            in_processes=np.isin(marker_ids[g], in_process),
            in_table=np.isin(marker_symbols[g], table_genes),
        )
        out_groups.append(
            {
                "group": str(groups.categories[g]),
                "n_cells": int(stats.sizes[g]),
                "label": best.given if np.isfinite(chosen[g, pick.best]) else None,
                "cl_id": best.cl_id,
                "score": round(pick.score, 4) if np.isfinite(pick.score) else None,
                "margin": round(pick.margin, 4) if np.isfinite(pick.margin) else None,
                "top": calls[method][1],
                "text": channel_entry(*calls["text"]),
                "mentions": {**channel_entry(*calls["mentions"], True), "named": named},
                "processes": {**channel_entry(*calls["processes"], True), "genes": process_genes},
                "knowledge": channel_entry(*calls["knowledge"]),
                "markerdb": {**channel_entry(*calls["markerdb"], True), "overlap": in_table},
                "combined": {**channel_entry(*calls["combined"]), "weights": weights.of(g)},
                "evidence": evidence,
                "markers": marker_symbols[g][:10],
                "signature": [str(genes[matched[c]]) for c in signature],
            }
        )
        # a '+' method's ranking beside the named ones
        out_groups[-1].setdefault(method, channel_entry(*calls[method]))
    labels_of = [e["label"] or "unassigned" for e in out_groups]
    labels = pd.Categorical(
        np.asarray(labels_of, dtype=object)[codes], categories=list(dict.fromkeys(labels_of))
    )
    report = {
        "groupby": key,
        "n_cells": int(stats.sizes.sum()),
        "n_groups": k,
        "method": method,
        "params": asdict(params),
        "candidates": {
            "n": len(cands),
            "source": "user" if candidates is not None else "cell-ontology",
            "subtree": ontology_subtree,
            "tissue": tissue,
            "cl_version": ontology.cl_version(),
            "with_cl_id": int(sum(c.cl_id is not None for c in cands)),
            "in_marker_table": int(db.covered.sum()),
        },
        **provenance(ev, len(bg_rows), db.universe),
        "mentions": {
            "lexicon": "symbols, aliases and full names of the bundled human NCBI Gene snapshot",
            "candidates_naming_data_genes": int(sum(bool(n) for n in ment.named)),
        },
        "processes": {
            "source": "GO biological processes of the bundled human NCBI Gene snapshot",
            "candidates_with_process_genes": int(sum(bool(g) for g in proc.genes)),
        },
        "context": {
            "used": CONTEXT in channels_of(method) and bool(context_top),
            "top": context_top,
        },
        "gene_match": match.report.to_dict(),
        "groups": out_groups,
        "seconds": round(time.perf_counter() - began, 3),
    }
    return report, labels
