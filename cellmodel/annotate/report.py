"""The annotation report: as stored in uns (and read back), and as Markdown (one summary table,
then each group's evidence)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anndata as ad
import numpy as np
import pandas as pd

from cellmodel._settings import ANNOTATION_KEY, UNS_KEY
from cellmodel.annotate import markerdb, score
from cellmodel.annotate.inputs import BACKGROUND_SEED
from cellmodel.annotate.kinds import LEVELS
from cellmodel.annotate.ontology import UNASSIGNED, normalize_id, term
from cellmodel.annotate.signatures import MIN_MEASURED
from cellmodel.markdown import md_text
from cellmodel.uns_record import (
    annotation_columns,
    annotation_record,
    h5ad_safe,
    store_annotation,
)
from genekb.errors import GenekbError


def ranked(cands: list[Any], scores: np.ndarray, n_shown: int) -> tuple[Any, list[dict]]:
    """One group's ranking of the candidates: the call, and its best `n_shown` as report entries."""
    call = score.rank(scores)
    top = [
        {
            "label": cands[i].name,
            "cl_id": cands[i].cl_id,
            "score": round(float(scores[i]), 4) if np.isfinite(scores[i]) else None,
        }
        for i in call.order[:n_shown]
    ]
    return call, top


def channel_entry(call: Any, top: list[dict], natural_zero: bool = False) -> dict[str, Any]:
    """One ranking's part of a group's report: its top entries, its call (None where it scores
    no candidate for the group, or, for a ranking whose 0 means no evidence, none above 0) and
    the call's margin over its runner-up in the ranking's own units (None with fewer than two
    candidates scored)."""
    best = top[0]["score"] if top else None
    called = best is not None and not (natural_zero and best <= 0)
    return {
        "top": top,
        "call": {"label": top[0]["label"], "cl_id": top[0]["cl_id"]} if called else None,
        "margin": round(call.margin, 4) if called and np.isfinite(call.margin) else None,
    }


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "—" if value is None else format(value, spec)


def _named(label: str | None, cl_id: str | None) -> str:
    """A call as Markdown: a candidate given as a CL id with its term's name beside it (the id
    alone told a reader nothing), else as the user wrote it."""
    if label is None:
        return UNASSIGNED
    if cl_id is not None and normalize_id(label) == cl_id:
        return md_text(f"{term(cl_id).label} ({label})")
    return md_text(label)


def _top(entries: list[dict[str, Any]]) -> str:
    return "; ".join(f"{_named(e['label'], e.get('cl_id'))} ({_fmt(e['score'])})" for e in entries)


def _names(names: list[str]) -> str:
    """Gene names from the file, as Markdown text."""
    return ", ".join(md_text(n) for n in names)


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown: a summary table of the calls, then one section per group."""
    lines = _summary_lines(report)
    for e in report["groups"]:
        lines += _group_lines(e, report["method"])
    return "\n".join(lines)


def _summary_lines(report: dict[str, Any]) -> list[str]:
    """The heading, the run's settings, one table row per group, the context and per-cell notes."""
    cands = report["candidates"]
    lines = [
        f"# Annotation of {report['n_groups']} groups (obs[{report['groupby']!r}],"
        f" {report['n_cells']} cells)",
        "",
        f"Method: **{report['method']}**. Candidates: {cands['n']} ({cands['source']};"
        f" Cell Ontology {cands['cl_version']}; {cands['with_cl_id']} with a CL id,"
        f" {cands['in_marker_table']} in"
        f" the marker table). Store embedding {report['store']['embedding_id']}"
        f" ({report['store']['model']}); gene vectors: **{report['params']['gene_vectors']}**.",
        "",
    ]
    for note in (candidates_line(cands, shown=50), unsigned_line(report.get("inferred"))):
        if note:
            lines += [f"> Note: {note}.", ""]
    if report["params"]["gene_vectors"] != "real":
        lines += [
            "> These calls used control gene vectors: they carry no gene knowledge.",
            "",
        ]
    lines += [
        "| group | cells | label | CL id | score | margin | runner-up | marker table says |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for e in report["groups"]:
        others = [t for t in e["top"] if t["label"] != e["label"]]
        # the walk may call the ranking's second term: then its runner-up is the first
        first = others[0] if others and e["label"] else None
        runner = _named(first["label"], first.get("cl_id")) if first else "—"
        db = e["markerdb"]["top"][0] if e["markerdb"]["top"] else None
        db_label = md_text(db["label"]) if db and db["score"] is not None else "—"
        lines.append(
            f"| {md_text(e['group'])} | {e['n_cells']} | {_named(e['label'], e.get('cl_id'))} |"
            f" {e['cl_id'] or '—'} | {_fmt(e['score'])} | {_fmt(e['margin'])} | {runner} |"
            f" {db_label} |"
        )
    lines.append("")
    walked = [e for e in report["groups"] if e.get("lineage")]
    if walked:
        unnamed = sum(bool(e["lineage"].get("outside")) and e["label"] is None for e in walked)
        broader = sum(e["lineage"]["abstained"] for e in walked) - unnamed
        none = (
            f" and {unnamed} were named nothing, their kind being no candidate's" if unnamed else ""
        )
        lines += [
            "Calls are lineage first (the lineage, then the deepest term the evidence supports);"
            f" {broader} of {len(walked)} groups stopped at a broader term than their best"
            f" candidate{none} (each section says why). Score, margin and runner-up are those"
            " of the ranking the walk read; each call's confidence is in its section and in"
            f" obs[{_columns(report)[1]!r}].",
            "",
        ]
    context = report.get("context", {})
    if context.get("top"):
        used = "used in the calls" if context["used"] else "not used by this method"
        lines += [
            f"Context ({used}): the groups as a whole fit best "
            + "; ".join(f"{md_text(t['label'])} ({_fmt(t['score'])})" for t in context["top"])
            + ".",
            "",
        ]
    return lines + _per_cell_lines(report)


def _columns(report: dict[str, Any]) -> list[str]:
    """The obs columns of the run's key_added (a record from before it was kept: the default)."""
    return annotation_columns(report["params"].get("key_added") or ANNOTATION_KEY)


def _per_cell_lines(report: dict[str, Any]) -> list[str]:
    """The per-cell calls' summary, naming the column they are in under the run's key_added
    (the default's name was written whatever the key)."""
    cells = report.get("per_cell")
    if not cells:
        return []
    column = _columns(report)[2]
    unsigned = cells.get("calls_without_signature") or []
    kept = (
        f" The cells called {_names(unsigned)} keep their group's call:"
        " no gene carried it, so there is nothing to score them on."
        if unsigned
        else ""
    )
    return [
        f"Per-cell calls (obs[{column!r}], {cells['method']}):"
        f" {cells['n_cells_differing_from_group']} cells"
        f" ({100 * cells['share_differing_from_group']:.1f} %) fit another group's call"
        f" better than their own group's.{kept}",
        "",
    ]


def _resampled_line(record: dict[str, Any]) -> str:
    """How the group's resampled cells named it (`stability.settle`)."""
    n = record["resamples"]
    return (
        f"Resampled ({n} draws of 4 in 5 cells): {record['same_term']} of {n} gave the same"
        f" term, {record['same_lineage']} of {n} the same lineage."
    )


def _stop(label: str | None, abstained: bool) -> str:
    """How a walked call's `why` is introduced: no name, a broader term than the best, or a
    note on a call that is no broader (a lineage left undecided, a term left out)."""
    if label is None:
        return "Not named"
    return "Stopped at a broader term" if abstained else "How it was called"


def _group_lines(e: dict[str, Any], method: str) -> list[str]:
    """One group's section: its top calls, markers, the genes behind the call, the evidence."""
    lines = [f"## {md_text(e['group'])}: {_named(e['label'], e.get('cl_id'))}", ""]
    walk = e.get("lineage")
    if walk:
        path = " > ".join(walk["lineage"]) or "no lineage told apart"
        unchecked = (
            "; tissue lineage not checked from expression" if walk.get("checked") is False else ""
        )
        lines += [f"Lineage: {path}; confidence {_fmt(walk['confidence'])}{unchecked}.", ""]
        if walk["why"]:
            lines += [f"{_stop(e['label'], walk['abstained'])}: {walk['why']}.", ""]
        if walk.get("stability"):
            lines += [_resampled_line(walk["stability"]), ""]
    if e.get("not_named"):  # no name, and why
        lines += [f"Not named: {e['not_named']}.", ""]
    if e.get("few_cells") and e["label"]:
        lines += [f"Small group: named from {e['n_cells']} cells only; check the name.", ""]
    lines.append(f"Top {len(e['top'])}: {_top(e['top'])}.")
    weights = e.get("combined", {}).get("weights")
    if method == "combined" and weights:
        lines.append(
            f"Weighed by their margins: marker table {weights['markerdb']:.2f}, knowledge"
            f" {weights['knowledge']:.2f}."
        )
    lines.append(f"Markers: {_names(e['markers']) or 'none'}.")
    # named genes and process genes are the ranking's best term's, which a walk may not call
    best = e["top"][0]["label"] if e["top"] else None
    whose = "the label" if best in (None, e["label"]) else md_text(best)
    named = e.get("mentions", {}).get("named") or []
    if named:
        lines.append(
            f"Genes the text of {whose} names: "
            + ", ".join(
                f"{md_text(n['words'])} ({md_text(n['gene'])}, log FC {n['log_fold_change']:.2f})"
                for n in named
            )
            + "."
        )
    process_genes = e.get("processes", {}).get("genes") or []
    if process_genes:
        lines.append(
            f"Markers among the GO process genes of {whose}: " + _names(process_genes[:10]) + "."
        )
    overlap = e["markerdb"]["overlap"]
    if overlap:
        lines.append(f"Marker-table overlap with its best term: {_names(overlap)}.")
    if e.get("signature"):
        lines.append(f"Genes that carried the call: {_names(e['signature'])}.")
    lines.append("")
    if e["evidence"]:
        lines += [
            "Evidence (markers whose text carries the text method's best match):",
            "",
            "| gene | similarity (z) | log FC | description |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {md_text(g['gene'])} | {g['similarity']:.2f} | {g['log_fold_change']:.2f} |"
            f" {md_text(g['description'])} |"
            for g in e["evidence"]
        ]
        lines.append("")
    return lines


def provenance(ev: Any, n_background: int, universe: int) -> dict[str, Any]:
    """Where a run's vectors, background and marker table came from."""
    return {
        "store": {
            "embedding_id": ev.id,
            "tag": ev.tag,
            "model": ev.spec.name,
            "store_root": str(getattr(getattr(ev, "store", None), "root", "")),
        },
        "background": {
            "n_genes": n_background,
            "rule": f"human protein-coding GeneIDs, numpy default_rng({BACKGROUND_SEED}) sample",
        },
        "marker_table": {
            "package": f"{markerdb.PACKAGE}=={markerdb.PACKAGE_VERSION}",
            "license": markerdb.LICENSE,
            "universe": universe,
        },
    }


def write_uns(adata: ad.AnnData, report: dict[str, Any], key_added: str = ANNOTATION_KEY) -> None:
    store_annotation(adata, key_added, uns_record(report))


def uns_record(report: dict[str, Any]) -> dict[str, Any]:
    """What uns["cellmodel"]["annotate"] holds: the parameters, a per-group table and the
    report as JSON (`report_of` reads it back)."""
    table = pd.DataFrame(
        {
            "group": [e["group"] for e in report["groups"]],
            "n_cells": [e["n_cells"] for e in report["groups"]],
            "label": [e["label"] or "" for e in report["groups"]],
            "cl_id": [e["cl_id"] or "" for e in report["groups"]],
            "score": [e["score"] if e["score"] is not None else np.nan for e in report["groups"]],
            "margin": [
                e["margin"] if e["margin"] is not None else np.nan for e in report["groups"]
            ],
            "evidence": [", ".join(x["gene"] for x in e["evidence"]) for e in report["groups"]],
        }
    )
    return {
        "params": h5ad_safe(report["params"]),
        "method": report["method"],
        "groups": table,
        "report_json": json.dumps(report),
    }


def report_of(adata: ad.AnnData, key_added: str = ANNOTATION_KEY) -> dict[str, Any]:
    """The full report `annotate` stored in `adata.uns` for `key_added`; GenekbError when there is
    none, or when what is there is no longer the record annotate wrote (edited, or left by another
    tool)."""
    record = annotation_record(adata, key_added)
    if record is None or (isinstance(record, Mapping) and not record):
        under = "" if key_added == ANNOTATION_KEY else f" under key_added={key_added!r}"
        raise GenekbError(f"no annotation{under} in this file; run `cellmodel annotate` first")
    text = record.get("report_json") if isinstance(record, Mapping) else None
    try:
        report = json.loads(text) if isinstance(text, str) else None
    except json.JSONDecodeError:
        report = None
    if not isinstance(report, dict) or not isinstance(report.get("groups"), list):
        raise GenekbError(
            f"{_where(key_added)} is not the record annotate writes (edited?); annotate"
            " again (cm.tl.annotate, or `cellmodel annotate`)"
        )
    return report


def _where(key_added: str) -> str:
    return f"uns[{UNS_KEY!r}]['annotate']" if key_added == ANNOTATION_KEY else f"uns[{key_added!r}]"


def inferred_line(inferred: dict[str, Any] | None) -> str:
    """One line saying what the run inferred from the file (species, tissue), or ''."""
    if not inferred:
        return ""
    parts = []
    if inferred.get("taxon_from") == "gene names":
        parts.append(f"species {inferred['taxon']} (from the gene names; --taxon to set it)")
    found = inferred.get("tissue")
    if isinstance(found, dict):
        parts.append(
            f"tissue {found['tissue']} ({_tissue_evidence(found)};"
            " --tissue to restrict the candidates to it)"
        )
    placed = (inferred.get("left_out") or {}).get("kinds_placed_elsewhere")
    if placed:
        where = "other tissues" if isinstance(found, dict) else "a tissue not inferred"
        parts.append(f"left out, as found only in {where}: {', '.join(placed)}")
    return "inferred " + "; ".join(parts) if parts else ""


def candidates_line(cands: dict[str, Any] | None, shown: int = 6) -> str:
    """One line saying which of a user's free labels were read as CL terms, and which stay
    words only (`free_labels`), or ''."""
    read, free = (cands or {}).get("read_as_terms") or [], (cands or {}).get("free_text") or []
    if not read and not free:
        return ""
    parts = []
    if read:
        named = [f"{r['given']!r} as {r['label']}" for r in read[:shown]]
        more = ", …" if len(read) > shown else ""
        parts.append(
            f"read {len(read)} of {cands['n']} candidates as Cell Ontology terms from their"
            f" words: {', '.join(named)}{more}"
        )
    if free:
        named = [repr(g) for g in free[:shown]]
        more = ", …" if len(free) > shown else ""
        one = len(free) == 1
        parts.append(
            f"{len(free)} {'names' if one else 'name'} no CL term and"
            f" {'is' if one else 'are'} scored by {'its' if one else 'their'} words alone:"
            f" {', '.join(named)}{more} (a CL id or label names the term)"
        )
    return "; ".join(parts)


def unsigned_line(inferred: dict[str, Any] | None) -> str:
    """One line naming the tissue lineages whose calls had no expression check, or ''."""
    kinds = (inferred or {}).get("unsigned_lineages")
    if not kinds:
        return ""
    named = ", ".join(kinds)
    which = f"any tissue lineage ({named})" if len(kinds) == len(LEVELS[0]) else named
    return (
        f"lineage not checked from expression for {which}: the file measures fewer than"
        f" {MIN_MEASURED} of each one's signature genes, so a call there rests on the ranking"
        " alone"
    )


def _tissue_evidence(found: dict[str, Any]) -> str:
    """How the inferred tissue led: in terms where the run counted them, else the share."""
    terms, runner = found.get("terms"), found["runner_up"]
    if terms and "of_terms" in found:
        return (
            f"named by {terms[found['tissue']]} of the groups' {found['of_terms']} best terms,"
            f" {runner} by {terms[runner]}"
        )
    return f"from the groups' best terms, ahead of {runner} by {found['lead']}"
