"""`cellmodel bench --task annotate`: a user's labelled files named over the whole Cell Ontology
(no candidates, no tissue), each call graded against the file's own labels.

Every group of the label column is named, as `annotate --groupby` names them; a group of at
least `MIN_CELLS` cells with a truth is graded. A group's truth is the CL id most of its cells
carry, from a label map, a column of CL ids (given, or found in obs) or, without either, the
label read as a CL term (`free_labels`); labels read as no term are listed, not graded. The groups
are scored once with the store's gene vectors and once per draw with shuffled and with random
ones; each ranking (the default, the knowledge alone, the marker table alone) is called by
`annotate`'s own naming, as `--method` would call it, and graded exact / partial (an is_a
ancestor or descendant that is not generic) / wrong, wrong-lineage calls apart. Labels only
score: they never reach a call.
"""

from __future__ import annotations

import re
import time
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate import free_labels, fusion, kinds, ontology
from cellmodel.annotate.channels import score_channels
from cellmodel.annotate.evaluate import group_truth
from cellmodel.annotate.inputs import groups_of
from cellmodel.annotate.naming import name_scored
from cellmodel.annotate.params import setup
from cellmodel.arguments import check_obs_column, missing_names, unlabelled
from cellmodel.bench.annotate_eval.ontology_runs import (
    GRADES,
    MIN_CELLS,
    RANKINGS,
    grade_calls,
)
from cellmodel.bench.annotate_eval.user_lists import own_list
from cellmodel.io import expression
from cellmodel.knowledge.gene_key_hint import hint_notes
from cellmodel.markers import group_sums
from genekb.errors import GenekbError, GenekbWarning, UsageError
from genekb.store.store import Store

CL_ID = re.compile(r"^CL:\d{7}$")
CONTROLS = ("shuffled", "random")


def file_truth(
    adata: Any,
    label_key: str,
    ontology_key: str | None = None,
    label_map: dict[str, str] | None = None,
) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """The cells `annotate --groupby label_key` names (all but those with a missing or blank
    label, which it refuses), each gradable group's truth (CL id) and how it was read: `{"source",
    "labels": {group: {cl_id, label, n_cells}}, "unscored": {group: why}, "n_left_out"}`. A group
    is gradable with `MIN_CELLS` cells or more, a label that is not "unknown" and a truth, from
    `label_map` (label -> CL id), else `ontology_key` or a column of CL ids found in obs, else the
    labels read as CL terms."""
    check_obs_column(adata.obs, label_key, "--label-key")
    named = ~missing_names(adata.obs[label_key])
    # The groups are the column's own values, as `annotate` reads them ("b" and "b " are two);
    # only the truth is read from the label stripped.
    kept = adata[named].copy()
    groups = kept.obs[label_key].astype(str)
    labels = groups.str.strip()
    sizes = groups.value_counts()
    unscored = {
        str(g): f"{n} cells (fewer than {MIN_CELLS})" for g, n in sizes.items() if n < MIN_CELLS
    }
    vague = unlabelled(kept.obs[label_key])
    unscored |= {str(g): "read as unlabelled" for g in sorted(set(groups[vague]))}
    keep = groups.isin(sizes.index[sizes >= MIN_CELLS]).to_numpy() & ~vague
    if not keep.any():  # no truth to read: reading none as terms was refused as a candidate list
        raise GenekbError(_nothing_graded(label_key, unscored))
    column = None if label_map else ontology_key or _cl_column(kept.obs, label_key, keep)
    if label_map:
        cells, source = _mapped(labels, keep, label_map, unscored), "the label map"
    elif column is not None:
        cells, source = _ids_of(kept.obs, column, keep), f"obs[{column!r}]"
        for g in sorted(set(groups[keep]) - set(groups[cells.notna().to_numpy()])):
            unscored[g] = f"no CL id in obs[{column!r}]"
    else:
        cells, source = _read_labels(labels, keep, unscored), "labels read as CL terms"
    graded = keep & cells.notna().to_numpy()
    if not graded.any():
        raise GenekbError(_nothing_graded(label_key, unscored))
    truth = group_truth(pd.Series(groups[graded].to_numpy()), pd.Series(cells[graded].to_numpy()))
    read = {
        g: {"cl_id": cl, "label": _label(cl), "n_cells": int(sizes[g])} for g, cl in truth.items()
    }
    how = {"source": source, "labels": read, "unscored": unscored}
    return kept, truth, how | {"n_left_out": int((~named).sum())}


def _nothing_graded(label_key: str, unscored: dict[str, str]) -> str:
    """Why no group of the file can be graded, and what to do about it."""
    whys = set(unscored.values())
    if whys and all("fewer than" in why for why in whys):
        todo = f"group the cells by a coarser column with groups of {MIN_CELLS} cells or more"
    elif whys == {"read as unlabelled"}:  # no id column or map can grade a label that is none
        todo = "give --label-key a column of cell-type labels"
    elif whys and all(why.startswith("no CL id in") for why in whys):
        todo = "fill in the groups' CL ids (CL:0000000) there, or give --label-map"
    elif "not in the label map" in whys:  # the map was given: another map is no way out
        todo = f"key the label map by the labels of obs[{label_key!r}] listed here"
    else:
        todo = "give --ontology-key (an obs column of Cell Ontology ids, CL:0000000) or --label-map"
    return f"no group of obs[{label_key!r}] can be scored ({_listed_why(unscored)}); {todo}"


def _listed_why(unscored: dict[str, str]) -> str:
    return _listed(f"{g!r}: {why}" for g, why in unscored.items())


def _cl_column(obs: pd.DataFrame, label_key: str, keep: np.ndarray) -> str | None:
    """The label column itself where it holds CL ids, else the obs column of CL ids that gives
    each label a single id (as CELLxGENE's cell_type_ontology_term_id does); of several, the
    first where they agree cell by cell, and none chosen (refused) where they do not."""
    found = []
    for column in obs.columns:
        if pd.api.types.is_numeric_dtype(obs[column]) or pd.api.types.is_bool_dtype(obs[column]):
            continue  # numbers hold no CL id; reading each of them as one costs seconds
        values = _as_ids(obs[column][keep])
        if len(values) and all(CL_ID.match(v) for v in pd.unique(values)):
            per_label = pd.DataFrame({"l": obs[label_key][keep].astype(str), "v": values})
            if column == label_key or (per_label.groupby("l")["v"].nunique() == 1).all():
                found.append(str(column))
    if label_key in found:
        return label_key
    differ = [
        c for c in found[1:] if not _as_ids(obs[c][keep]).equals(_as_ids(obs[found[0]][keep]))
    ]
    if differ:
        raise UsageError(
            f"obs[{found[0]!r}] and obs[{differ[0]!r}] both hold Cell Ontology ids of the labels,"
            " and they differ; say which is the truth with --ontology-key"
        )
    return found[0] if found else None


def _as_ids(values: pd.Series) -> pd.Series:
    """The values as text, CL ids written as CL:0000000 (CL_0000000 and OBO addresses too)."""
    text = values.astype(str).str.strip()
    ids = {v: ontology.normalize_id(v) or v for v in pd.unique(text)}  # once per value
    return text.map(ids)


def _ids_of(obs: pd.DataFrame, column: str, keep: np.ndarray) -> pd.Series:
    """Per cell its CL id from `column`; ids CL does not know are refused by name, and a cell
    without one (NaN, blank, "NA", "unknown") has no truth, as a cell of no label has none."""
    check_obs_column(obs, column, "--ontology-key")
    values = _as_ids(obs[column])
    keep = keep & ~unlabelled(obs[column])
    bad = _not_truths(values[keep])
    if bad:
        raise UsageError(
            f"--ontology-key {column!r} holds values that are no Cell Ontology id of this"
            f" release ({bad}); give the column of CL ids (CL:0000000)"
        )
    return values.where(pd.Series(keep, index=values.index))


def _mapped(
    labels: pd.Series, keep: np.ndarray, label_map: dict[str, str], unscored: dict[str, str]
) -> pd.Series:
    """Per cell the CL id the map gives its label; labels the map lacks are listed unscored."""
    bad = _not_truths(label_map.values())
    if bad:
        raise UsageError(
            f"the label map gives values that are no Cell Ontology id of this release"
            f" ({bad}); map each label to a live CL id (CL:0000000)"
        )
    ids = _map_loosely(sorted(set(labels[keep])), label_map)
    for name in sorted(set(labels[keep]) - set(ids)):
        unscored[name] = "not in the label map"
    return labels.map(ids).where(pd.Series(keep, index=labels.index))


def _map_loosely(names: list[str], label_map: dict[str, str]) -> dict[str, str]:
    """Each label's id: the map's own key, else the one key that differs from it only in case
    or spacing ("CD14 mono" for "CD14 Mono"), as a hand-written map often does."""

    def plain(text: str) -> str:
        return " ".join(text.casefold().split())

    loose: dict[str, set[str]] = {}
    for key, cl_id in label_map.items():
        loose.setdefault(plain(key), set()).add(cl_id)
    out = {}
    for name in names:
        ids = {label_map[name]} if name in label_map else loose.get(plain(name))
        if ids and len(ids) == 1:
            out[name] = next(iter(ids))
    return out


def _read_labels(labels: pd.Series, keep: np.ndarray, unscored: dict[str, str]) -> pd.Series:
    """Per cell the CL term its label reads as (None where it reads as none, said in
    `unscored`), the labels read together as one list, as a candidate list is. A file's labels
    are no list a user wrote: one that no list may hold (';', "unassigned") reads as no term,
    and labels a list may not hold together ("B cell" beside "b cell" or "B-cell") read as one."""
    names = sorted(set(labels[keep]))
    one = {name: _term_key(name) for name in names if _may_be_listed(name)}
    first = {key: name for name, key in reversed(one.items())}  # each key's first name
    listed = list(first.values())
    read = _as_a_list(listed)
    ids = {name: read[first[key]] for name, key in one.items()}
    for name in names:
        if ids.get(name) is None:
            unscored[name] = "not read as a Cell Ontology term"
    return labels.map(ids).where(pd.Series(keep, index=labels.index))


def _as_a_list(names: list[str]) -> dict[str, str | None]:
    """Each name's CL term read as a candidate list reads it ("B cells" beside "B cell" as that
    one's term); one name, or names a list would call one cell type, each read on its own."""
    try:
        cands = free_labels.user_candidates(names)
    except GenekbError:  # fewer than two cell types: a list needs two to choose between
        return {n: ontology.lookup(n) or free_labels.read_label(n)[0] for n in names}
    term_of = {c.given: c.cl_id for c in cands}
    return {n: c.cl_id or term_of.get(c.same_as) for n, c in zip(names, cands, strict=True)}


def _may_be_listed(name: str) -> bool:
    """Whether a candidate list may hold `name` (`ontology.from_user` refuses it otherwise)."""
    other = "neuron" if ontology.lookup(name) == ontology.lookup("cell") else "cell"
    try:
        ontology.from_user([name, other])
    except GenekbError:
        return False
    return True


def _term_key(name: str) -> str:
    """The term a label names as written, else its words as a list compares them (case and
    hyphens aside): labels alike so are one candidate."""
    return ontology.lookup(name) or " ".join(name.lower().replace("-", " ").split())


def _not_truths(values: Any) -> str:
    """The values no call can be (no CL id, an id of no term, an obsolete term's), each with
    why; '' if none. An obsolete truth was taken, and every call graded wrong against it."""
    live = ontology.live_labels()
    bad = sorted({str(v) for v in values if v not in live})
    return _listed(f"{v}: {_why_not_live(v)}" for v in bad) if bad else ""


def _why_not_live(value: str) -> str:
    if not CL_ID.match(value):
        return "not a CL id"
    try:
        obsolete = bool(ontology.parser().is_term_deprecated(value))
    except (KeyError, ValueError):
        obsolete = False
    if not obsolete:
        return "no term of this release"
    instead = ontology.parser().get_term_replacement(value)
    return "obsolete" + (f", replaced by {instead}" if instead in ontology.live_labels() else "")


def _label(cl_id: str | None) -> str | None:
    if not cl_id:
        return None
    try:
        return ontology.parser().get_term_label(cl_id)
    except (KeyError, ValueError):
        return None


def _listed(items: Any, n: int = 4) -> str:
    items = list(items)
    more = f" and {len(items) - n} more" if len(items) > n else ""
    return ", ".join(map(str, items[:n])) + more if items else "none"


def _scored(
    adata: Any, label_key: str, store: Store, read: dict[str, Any], **settings: Any
) -> tuple[Callable[[str], list[dict[str, Any]]], str, dict[str, Any]]:
    """One scoring of the groups over the whole ontology, as `annotate` scores them: a function
    giving each group's call under one ranking (the call `annotate --method RANKING` makes from
    the same scoring: `naming.name_scored`), the species read and the matrix read (with notes)."""
    began = time.perf_counter()
    key, groups = groups_of(adata, label_key)
    load_encoder, progress = settings.pop("load_encoder", None), settings.pop("progress", None)
    params, cands = setup(key, None, None, None, **settings)
    expr = expression(adata, layer=read.get("layer"), gene_key=read.get("gene_key"))
    # As `annotate` says it: Ensembl var_names beside a column of symbols (CELLxGENE's) match
    # fewer genes than --gene-key feature_name would.
    expr.notes += hint_notes(expr.var, expr.genes, read.get("gene_key"), read.get("taxon"))
    sums = group_sums(expr.X, np.asarray(groups.codes), len(groups.categories))
    sc = score_channels(
        expr.genes, sums, len(groups.categories), store, params, cands, gene_totals=expr.X,
        taxon=read.get("taxon"), build_missing=True, load_encoder=load_encoder, progress=progress,
    )  # fmt: skip

    def calls(ranking: str) -> list[dict[str, Any]]:
        named = replace(params, method=ranking)
        report, _ = name_scored(
            sc, expr.genes, sums, groups, named, cands, taxon=read.get("taxon"), began=began
        )
        return report["groups"]

    return calls, sc.taxon, expr.to_dict()


def evaluate_file(
    adata: Any,
    label_key: str,
    store: Store,
    *,
    ontology_key: str | None = None,
    label_map: dict[str, str] | None = None,
    seeds: int = 2,
    reading: dict[str, Any] | None = None,
    log: Callable[[str], None] = lambda _: None,
    **settings: Any,
) -> dict[str, Any]:
    """One labelled file: its truth, and each ranking's graded calls with real vectors and with
    each control over `seeds` draws. `reading`: `layer`, `gene_key`, `taxon` of the data;
    `settings`: `annotate`'s (model, n_markers, ...; `progress`, a `(stage, done, total)` hook
    of the slow steps; a `load_encoder` for tests)."""
    kept, truth, how = file_truth(adata, label_key, ontology_key, label_map)
    out: dict[str, Any] = {"n_cells": int(kept.n_obs), "n_groups": len(truth), "truth": how}
    progress = settings.pop("progress", None)
    draws = [("real", 0)] + [(c, s) for c in CONTROLS for s in range(seeds)]
    for vectors, seed in draws:
        drawn = "the store's" if vectors == "real" else f"{vectors} (draw {seed + 1} of {seeds})"
        log(f"scoring {len(truth)} groups with {drawn} gene vectors")
        with warnings.catch_warnings():
            if vectors != "real":  # annotate's warnings about the groups, said once
                warnings.simplefilter("ignore", GenekbWarning)
            calls_of, out["taxon"], out["input"] = _scored(
                kept, label_key, store, reading or {}, gene_vectors=vectors, seed=seed,
                progress=_prefixed(progress, f"{drawn} vectors"), **settings,
            )  # fmt: skip
        for ranking in RANKINGS:
            with warnings.catch_warnings():
                if vectors != "real" or ranking != fusion.FUSED:
                    warnings.simplefilter("ignore", GenekbWarning)
                entries = [e for e in calls_of(ranking) if e["group"] in truth]
            scored = [e["group"] for e in entries]
            graded = grade_calls(entries, scored, truth)
            if vectors == "real" and ranking == fusion.FUSED:
                out["calls"] = _call_rows(entries, scored, graded, how)
            out.setdefault(f"{ranking}|{vectors}", []).append(_shares(graded))
    log(f"naming {len(truth)} groups from the file's own {len(set(truth.values()))} terms")
    out["own_list"] = own_list(kept, label_key, store, truth, **(reading or {}), **settings)
    return out


def _prefixed(progress: Any, prefix: str) -> Any:
    """`progress` with each stage named after the draw (a stage seen again was counted on)."""
    if progress is None:
        return None
    return lambda stage, done, total: progress(f"{prefix}: {stage}", done, total)


def _shares(graded: dict[str, Any]) -> dict[str, Any]:
    n = graded["n_groups"]
    return {
        "n_groups": n,
        **{g: graded[g] for g in (*GRADES, "wrong_lineage")},
        "exact_pct": 100 * graded["exact"] / n,
        "exact_partial_pct": 100 * (graded["exact"] + graded["partial"]) / n,
        "wrong_lineage_pct": 100 * graded["wrong_lineage"] / n,
    }


def _call_rows(
    calls: list[dict[str, Any]], names: list[str], graded: dict[str, Any], how: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = []
    for name, call in zip(names, calls, strict=True):
        g = graded["groups"][name]
        rows.append(
            {
                "group": name,
                "n_cells": how["labels"][name]["n_cells"],
                "truth": g["truth"],
                "truth_label": _label(g["truth"]),
                "call": call["cl_id"],
                "call_label": _label(call["cl_id"]),
                "grade": g["grade"],
                "wrong_lineage": g["grade"] == "wrong"
                and kinds.crosses_lineage(call["cl_id"], g["truth"]),
                "confidence": (call.get("lineage") or {}).get("confidence"),
            }
        )
    return rows
