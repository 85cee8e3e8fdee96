"""`name_groups`: name cell groups from their per-group gene sums, however those were gathered.

The core of `annotate` (in memory) and of `chunked.annotate` (chunk by chunk): every channel is
scored by `channels.score_channels`; here the rankings are fused, each group called (lineage first
over the ontology: `lineage`) and one report entry per group written with its evidence.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate import (
    fusion,
    infer,
    lineage,
    ontology,
    readable,
    score,
    signatures,
    stability,
)
from cellmodel.annotate.cells import signature_columns
from cellmodel.annotate.channels import Markers, Scored, TextChannel, score_channels
from cellmodel.annotate.inputs import MIN_CELLS
from cellmodel.annotate.methods import CONTEXT, channels_of
from cellmodel.annotate.ontology import Candidate
from cellmodel.annotate.params import AnnotateParams, Candidates
from cellmodel.annotate.report import channel_entry, provenance, ranked, unsigned_line
from cellmodel.explain import describe_clusters
from cellmodel.markers import GroupSums
from genekb.errors import GenekbWarning, listed, warn
from genekb.store.store import Store

N_EVIDENCE_SHOWN = 5
TOP_SHOWN = 3
N_CONTEXT_SHOWN = 5


def name_groups(
    genes: list[str],
    sums: Any,
    groups: pd.Categorical,
    store: Store,
    params: AnnotateParams,
    candidates: Candidates,
    *,
    gene_totals: Any,
    taxon: str | None,
    build_missing: bool,
    load_encoder: Any,
    began: float,
    progress: Any = None,
    resampled: list[GroupSums] | None = None,
) -> tuple[dict[str, Any], pd.Categorical]:
    """Name the groups from their per-group gene sums (`markers.GroupSums` over the data's
    `genes`, however gathered: in memory or chunk by chunk); returns the report and each cell's
    label. `gene_totals`: any matrix whose column sums are the genes' totals (the match report
    reads only those). `progress`: a `(stage, done, total)` hook (`score_channels`).
    `resampled`: the sums of resampled cells (`stability.resampled_sums`), each named alike and
    read by `stability.settle`."""
    def scored(group_sums: GroupSums) -> Scored:
        return score_channels(
            genes, group_sums, len(groups.categories), store, params, candidates,
            gene_totals=gene_totals, taxon=taxon, build_missing=build_missing,
            load_encoder=load_encoder, progress=progress,
        )  # fmt: skip

    again = [_resampled_walks(scored(s), s, params, candidates) for s in resampled or []]
    return name_scored(
        scored(sums), genes, sums, groups, params, candidates, taxon=taxon, began=began,
        resampled=again,
    )  # fmt: skip


def _resampled_walks(
    sc: Scored, sums: GroupSums, params: AnnotateParams, candidates: Candidates
) -> list[lineage.Walk]:
    """One resample's walks, no call for a group of which it drew under `MIN_CELLS` cells."""
    walks = _walks(sc, params, candidates)[0] or []
    return [
        w if n >= MIN_CELLS else lineage.Walk(None, None)
        for w, n in zip(walks, sums.sizes, strict=True)
    ]


def _walks(
    sc: Scored, params: AnnotateParams, candidates: Candidates
) -> tuple[list[lineage.Walk] | None, dict[str, Any] | None, Any, Any]:
    """The lineage-first walks of one scoring (None when the walk is off), the tissue it
    inferred, its fused rankings and the signature the walk read."""
    cands = candidates.terms
    matrices, weights = fusion.rankings(sc.channel, params.method, candidates.user_given)
    signature = sc.signature if "markerdb" in channels_of(params.method) else None
    searched = not candidates.user_given and not candidates.tissue
    found = _tissue(matrices[params.method], sc.mk, cands) if searched else None
    walks = lineage.walk_calls(
        matrices[params.method], cands, params.lineage, candidates.user_given, signature,
        infer.tissue_terms(found), infer.elsewhere_terms(found),
        infer.out_of_place_terms(sc.taxon, found, searched),
        matrices[fusion.TABLE] if params.method == fusion.FUSED else None,
    )  # fmt: skip
    return walks, found, (matrices, weights), signature


def name_scored(
    sc: Scored,
    genes: list[str],
    sums: Any,
    groups: pd.Categorical,
    params: AnnotateParams,
    candidates: Candidates,
    *,
    taxon: str | None,
    began: float,
    resampled: list[list[lineage.Walk]] | None = None,
) -> tuple[dict[str, Any], pd.Categorical]:
    """`name_groups` from its scored channels `sc` on: the rankings fused, each group called
    under `params.method` and its report entry written (the evaluation calls each ranking of one
    scoring so, as `annotate --method` would); `resampled`: the resamples' walks
    (`stability.settle`)."""
    mk, text, cands = sc.mk, sc.text, candidates.terms
    db, ment, proc = sc.gene_channels
    prior = sc.channel[CONTEXT]
    walks, found, (matrices, weights), signature = _walks(sc, params, candidates)
    if walks is not None and resampled:
        walks = stability.settle(walks, resampled, {c.cl_id: i for i, c in enumerate(cands)})
    context_top = ranked(cands, prior[0], N_CONTEXT_SHOWN)[1] if np.isfinite(prior).any() else []
    out_groups = [
        _group_entry(g, groups, genes, mk, text, cands, matrices, weights, sc.gene_channels, params)
        for g in range(len(groups.categories))
    ]
    check_list = candidates.user_given and params.lineage == "auto"
    signatures_used = signature is not None and (walks is not None or check_list)
    _apply_lineage(out_groups, walks, cands, matrices[params.method], signature, check_list)
    _name_no_unnameable_group(out_groups, sums, params.groupby, mk.mito_only, sc.readable)
    report = {
        "groupby": params.groupby,
        "n_cells": int(mk.stats.sizes.sum()),
        "n_groups": len(groups.categories),
        "method": params.method,
        "params": asdict(params),
        "candidates": _candidates_entry(candidates, db),
        **provenance(sc.ev, text.n_background, db.universe),
        **_lexicon_entries(ment, proc),
        "context": {
            "used": CONTEXT in channels_of(params.method) and bool(context_top),
            "top": context_top,
        },
        "gene_match": mk.match.report.to_dict(),
        "inferred": _inferred(sc, candidates, taxon, found, signatures_used),
        "groups": out_groups,
        "seconds": round(time.perf_counter() - began, 3),
    }
    return report, _cell_labels(out_groups, groups)


def _tissue(ranking: np.ndarray, mk: Markers, cands: list[Candidate]) -> dict[str, Any] | None:
    """The tissue the groups with markers name (`infer.tissue`). A group without any (too small,
    empty) is left unnamed, and its row, the context prior alone, had voted all the same."""
    voting = np.array([len(ids) > 0 for ids in mk.ids], dtype=bool)
    return infer.tissue(ranking[voting], [c.cl_id for c in cands])


def _apply_lineage(
    entries: list[dict[str, Any]],
    walks: list[lineage.Walk] | None,
    cands: list[Candidate],
    matrix: np.ndarray,
    signature: list[dict[str, float]] | None,
    check_list: bool,
) -> None:
    """Write each group's lineage-first call (`walks`); for a user's list called flat
    (`check_list`), leave unnamed a group whose kind none of the list is (`lineage.unplaced`)."""
    if walks is not None:
        for g, (entry, w) in enumerate(zip(entries, walks, strict=True)):
            lineage.apply_walk(entry, w, cands)
            if signature:  # whether the call's lineage had an expression check
                entry["lineage"]["checked"] = signatures.lineage_checked(w.cl_id, signature[g])
    elif check_list:
        for entry, why in zip(entries, lineage.unplaced(matrix, cands, signature), strict=True):
            if why:  # no name rather than a wrong one
                entry.update(label=None, cl_id=None, not_named=why)


# A priori, no labels read: a group under MIN_CELLS gets no name (`inputs`); one under FEW_CELLS
# is named but said to be small.
FEW_CELLS = 10


class SmallGroupWarning(GenekbWarning):
    """Some groups have fewer than FEW_CELLS cells: their names rest on a few cells' markers."""


def _why_unnamed(entry: dict[str, Any], total: float, mito_only: bool) -> str | None:
    """Why a group gets no name, or None: too few cells; cells that express nothing (the
    rankings standardise each group's scores, so one with no markers still got a confident
    call: an islet delta cell, margin above every real group's); no marker at all (no gene
    higher in it than in the others: the call was the first candidate at score 0)."""
    n = entry["n_cells"]
    if n < MIN_CELLS:
        return f"only {n} cell{'s' * (n != 1)}: too few for markers; merge it or name it by hand"
    if total <= 0:
        return f"its {n} cells hold no counts in the genes read (empty droplets, or another layer=)"
    if not entry["markers"] and mito_only:  # "no gene higher" was false: MT-CO1 … were
        return (
            "only mitochondrial genes are higher in it, and they say how cells fared, not what"
            " they are (damaged or dying cells?), so nothing names it"
        )
    if not entry["markers"]:
        return (
            "no gene with a gene card is higher in it than in the other groups (no marker),"
            " so nothing names it"
        )
    return None


def _name_no_unnameable_group(
    entries: list[dict[str, Any]],
    sums: Any,
    groupby: str,
    mito_only: list[bool],
    found: readable.Readability | None,
) -> None:
    """No name for a group `_why_unnamed` refuses (one warning per reason, naming its groups:
    with hundreds of groups, a line each buried the rest), nor for any in a file too thin to
    read (`readable`); a warning naming the small groups named."""
    readable.abstain(entries, found, groupby)  # first: its groups are no "small groups named"
    totals = np.asarray(sums.sums).sum(axis=1)
    unnamed: dict[str, list[str]] = {}
    for entry, total, mito in zip(entries, totals, mito_only, strict=True):
        entry["few_cells"] = entry["n_cells"] < FEW_CELLS
        why = _why_unnamed(entry, total, mito)
        if why is None:
            continue
        entry.update(label=None, cl_id=None, score=None, margin=None, not_named=why)
        entry.update(lineage=None, signature=[])
        entry["signature_data_names"] = []
        unnamed.setdefault(why, []).append(repr(entry["group"]))
    for why, names in unnamed.items():
        which = f"group {names[0]}" if len(names) == 1 else f"groups {listed(names)}"
        warn(f"{which} of obs[{groupby!r}] left unassigned: {why}", GenekbWarning)
    small = [f"{e['group']!r} ({e['n_cells']})" for e in entries if e["few_cells"] and e["label"]]
    if small:
        warn(
            f"obs[{groupby!r}] has small groups, named from fewer than {FEW_CELLS} cells: "
            + listed(small)
            + "; check their names, or merge them",
            SmallGroupWarning,
        )


def _cell_labels(entries: list[dict[str, Any]], groups: pd.Categorical) -> pd.Categorical:
    """Each cell's call: its group's label ("unassigned" where the group has none)."""
    labels_of = [e["label"] or ontology.UNASSIGNED for e in entries]
    return pd.Categorical(
        np.asarray(labels_of, dtype=object)[np.asarray(groups.codes)],
        categories=list(dict.fromkeys(labels_of)),
    )


def _inferred(
    sc: Scored,
    candidates: Candidates,
    given_taxon: str | None,
    tissue: dict[str, Any] | None,
    signatures_used: bool,
) -> dict[str, Any]:
    """The species and tissue the run took from the file where the user gave none, and, where
    calls are checked against the lineage signatures (`signatures_used`), the tissue lineages
    the file measures too few genes of to check (said as an `UncheckedLineageWarning` too)."""
    out: dict[str, Any] = {
        "taxon": sc.taxon,
        "taxon_from": "given" if given_taxon else "gene names",
        "unsigned_lineages": (
            signatures.unsigned_lineages(sc.signature, [c.cl_id for c in candidates.terms])
            if signatures_used
            else []
        ),
    }
    if sc.readable is not None:
        out["readable"] = sc.readable.to_dict()
    unchecked = unsigned_line(out)
    too_few = sc.readable is not None and sc.readable.too_few  # said once, by `readable`
    if unchecked and not too_few:  # in a notebook as on the command line (`warning: …`)
        warn(unchecked, signatures.UncheckedLineageWarning)
    if candidates.tissue:
        out.update(tissue=candidates.tissue, tissue_from="given")
    elif not candidates.user_given:
        out.update(tissue=tissue, tissue_from="the groups' best terms" if tissue else None)
        out["left_out"] = {
            "other_species_terms": len(infer.other_species_terms(sc.taxon)),
            "kinds_placed_elsewhere": infer.placed_elsewhere(tissue),
        }
    return out


def _group_entry(
    g: int,
    groups: pd.Categorical,
    genes: list[str],
    mk: Markers,
    text: TextChannel,
    cands: list[Candidate],
    matrices: dict[str, np.ndarray],
    weights: Any,
    gene_channels: tuple[Any, Any, Any],
    params: AnnotateParams,
) -> dict[str, Any]:
    """One group's part of the report: its call under `method`, every ranking, and the evidence."""
    db, ment, proc = gene_channels
    method = params.method
    calls = {name: ranked(cands, m[g], TOP_SHOWN) for name, m in matrices.items()}
    pick = calls[method][0]
    best = ontology.called(cands, pick.best)
    present_g = text.present[text.bounds[g] : text.bounds[g + 1]]
    ids_g, cols_g = mk.ids[g][present_g], mk.cols[g][present_g]
    ev_idx = score.evidence(text.sims[g][:, pick.best], params.top_k)
    mentioned = ment.evidence(mk.lfc, g, pick.best)
    in_process = proc.overlap(mk.ids[g], pick.best)
    table_genes = db.overlap(g, pick.best)
    signature = signature_columns(
        channels_of(method),
        text=[cols_g[i] for i in ev_idx],
        named=[col for _, col, value in mentioned if value > 0],
        marker_cols=mk.cols[g],
        in_processes=np.isin(mk.ids[g], in_process),
        in_table=np.isin(mk.symbols[g], table_genes),
    )
    named = [
        {"words": words, "gene": mk.data_symbols[col], "log_fold_change": round(value, 3)}
        for words, col, value in mentioned[:N_EVIDENCE_SHOWN]
    ]
    named_it = bool(np.isfinite(matrices[method][g, pick.best]))  # no score: no name, no id
    entry = {
        "group": str(groups.categories[g]),
        "n_cells": int(mk.stats.sizes[g]),
        "label": best.name if named_it else None,
        "cl_id": best.cl_id if named_it else None,
        "score": round(pick.score, 4) if np.isfinite(pick.score) else None,
        "margin": round(pick.margin, 4) if np.isfinite(pick.margin) else None,
        "top": calls[method][1],
        "text": channel_entry(*calls["text"]),
        "mentions": {**channel_entry(*calls["mentions"], True), "named": named},
        "processes": {
            **channel_entry(*calls["processes"], True),
            "genes": [mk.symbol_of.get(i, "") for i in in_process],
        },
        "knowledge": channel_entry(*calls["knowledge"]),
        "markerdb": {**channel_entry(*calls["markerdb"], True), "overlap": table_genes[:10]},
        "combined": {**channel_entry(*calls["combined"]), "weights": weights.of(g)},
        "evidence": _evidence(g, mk, text, ids_g, cols_g, ev_idx[:N_EVIDENCE_SHOWN], pick.best),
        "markers": mk.symbols[g][:10],
        "markers_data_names": [str(genes[mk.matched[c]]) for c in mk.cols[g][:10]],
        # by symbol, as the markers are (a file of Ensembl ids would list ids); by the data's own
        # names for what looks them up in the data (per-cell calls, cm.pl.markers)
        "signature": [mk.data_symbols[c] or str(genes[mk.matched[c]]) for c in signature],
        "signature_data_names": [str(genes[mk.matched[c]]) for c in signature],
    }
    # a '+' method's ranking beside the named ones
    entry.setdefault(method, channel_entry(*calls[method]))
    return entry


def _evidence(
    g: int,
    mk: Markers,
    text: TextChannel,
    ids_g: np.ndarray,
    cols_g: np.ndarray,
    shown: Any,
    best: int,
) -> list[dict[str, Any]]:
    """The markers whose cards match the called label best, with their fold change and card."""
    return [
        {
            "gene": mk.symbol_of.get(int(ids_g[i]), str(ids_g[i])),
            "similarity": round(float(text.sims[g][i, best]), 3),
            "log_fold_change": round(float(mk.lfc[g, cols_g[i]]), 3),
            "description": describe_clusters(text.records, int(ids_g[i])),
        }
        for i in shown
    ]


def _candidates_entry(candidates: Candidates, db: Any) -> dict[str, Any]:
    """Where the candidates came from and how many each source of knowledge covers."""
    return {
        "n": len(candidates.terms),
        "source": "user" if candidates.user_given else "cell-ontology",
        "subtree": candidates.ontology_subtree,
        "tissue": candidates.tissue,
        "cl_version": ontology.cl_version(),
        "with_cl_id": int(sum(c.cl_id is not None for c in candidates.terms)),
        "in_marker_table": int(db.covered.sum()),
        "read_as_terms": [
            {"given": c.given, "cl_id": c.cl_id, "label": c.label, "how": c.read_as}
            for c in candidates.terms
            if c.read_as
        ],
        "free_text": [c.given for c in candidates.terms if c.cl_id is None],
    }


def _lexicon_entries(ment: Any, proc: Any) -> dict[str, Any]:
    """What the mentions and processes channels read, and how many candidates each reaches."""
    return {
        "mentions": {
            "lexicon": "symbols, aliases and full names of the bundled human NCBI Gene snapshot",
            "candidates_naming_data_genes": int(sum(bool(n) for n in ment.named)),
        },
        "processes": {
            "source": "GO biological processes of the bundled human NCBI Gene snapshot",
            "candidates_with_process_genes": int(sum(bool(g) for g in proc.genes)),
        },
    }
