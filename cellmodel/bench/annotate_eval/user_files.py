"""`cellmodel bench --task annotate`: a user's labelled files named over the whole Cell Ontology
(no candidates, no tissue), each call graded against the file's own labels.

Each file's true groups are its labels with at least `MIN_CELLS` cells; a group's truth is the
CL id most of its cells carry, from a column of CL ids (given, or found: one that gives each
label a single id) or, without one, the label read as a CL term (`free_labels`). Labels read as
no term are listed, not scored. The groups are scored once with the store's gene vectors and
once per seed with shuffled and with random ones; each ranking (the default, the knowledge
alone, the marker table alone) is walked lineage-first as `annotate` walks it and graded exact /
partial (an is_a ancestor or descendant that is not generic) / wrong, wrong-lineage calls apart.
Labels only score: they never reach a call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from cellmodel.annotate import free_labels, fusion, kinds, ontology
from cellmodel.annotate.channels import score_channels
from cellmodel.annotate.evaluate import group_truth
from cellmodel.annotate.inputs import groups_of
from cellmodel.annotate.params import setup
from cellmodel.arguments import check_obs_column, unlabelled
from cellmodel.bench.annotate_eval.ontology_runs import (
    GRADES,
    MIN_CELLS,
    RANKINGS,
    calls_of,
    grade_calls,
)
from cellmodel.bench.annotate_eval.user_lists import own_list
from cellmodel.io import expression
from cellmodel.markers import group_sums
from genekb.errors import GenekbError, UsageError
from genekb.store.store import Store

CL_ID = re.compile(r"^CL:\d{7}$")
CONTROLS = ("shuffled", "random")


def file_truth(
    adata: Any,
    label_key: str,
    ontology_key: str | None = None,
    label_map: dict[str, str] | None = None,
) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """The cells of groups of at least `MIN_CELLS`, each gradable group's truth (CL id) and how
    it was read: `{"source", "labels": {label: {cl_id, label, n_cells}}, "unscored": {label:
    why}}`. The truth comes from `label_map` (label -> CL id), else `ontology_key` or a column of
    CL ids found in obs, else the labels read as CL terms."""
    check_obs_column(adata.obs, label_key, "--label-key")
    labels = adata.obs[label_key].astype(str).str.strip()
    keep = ~unlabelled(adata.obs[label_key])
    sizes = labels[keep].value_counts()
    unscored = {
        str(lab): f"{n} cells (fewer than {MIN_CELLS})" for lab, n in sizes.items() if n < MIN_CELLS
    }
    keep &= labels.isin(sizes.index[sizes >= MIN_CELLS]).to_numpy()
    column = None if label_map else ontology_key or _cl_column(adata.obs, label_key, keep)
    if label_map:
        cells, source = _mapped(labels, keep, label_map, unscored), "the label map"
    elif column is not None:
        cells, source = _ids_of(adata.obs, column, keep), f"obs[{column!r}]"
    else:
        cells, source = _read_labels(labels, keep, unscored), "labels read as CL terms"
    graded = keep & cells.notna().to_numpy()
    if not graded.any():
        raise GenekbError(
            f"no group of obs[{label_key!r}] can be scored ({_listed(unscored)}); give"
            " --ontology-key, an obs column of Cell Ontology ids (CL:0000000)"
        )
    # Groups whose label reads as no term are still named (each group's markers are read against
    # all the others, as `annotate` reads them); only their grade is missing.
    kept = adata[keep].copy()
    kept.obs[label_key] = pd.Categorical(labels[keep].to_numpy())
    truth = group_truth(pd.Series(labels[graded].to_numpy()), pd.Series(cells[graded].to_numpy()))
    read = {
        g: {"cl_id": cl, "label": _label(cl), "n_cells": int((kept.obs[label_key] == g).sum())}
        for g, cl in truth.items()
    }
    return kept, truth, {"source": source, "labels": read, "unscored": unscored}


def _cl_column(obs: pd.DataFrame, label_key: str, keep: np.ndarray) -> str | None:
    """The label column itself where it holds CL ids, else the one obs column of CL ids that
    gives each label a single id (as CELLxGENE's cell_type_ontology_term_id does)."""
    found = []
    for column in obs.columns:
        values = obs[column][keep].astype(str)
        if len(values) and values.map(lambda v: bool(CL_ID.match(v))).all():
            per_label = pd.DataFrame({"l": obs[label_key][keep].astype(str), "v": values})
            if column == label_key or (per_label.groupby("l")["v"].nunique() == 1).all():
                found.append(str(column))
    if label_key in found:
        return label_key
    return found[0] if len(found) == 1 else None


def _ids_of(obs: pd.DataFrame, column: str, keep: np.ndarray) -> pd.Series:
    """Per cell its CL id from `column`; ids CL does not know are refused by name."""
    check_obs_column(obs, column, "--ontology-key")
    values = obs[column].astype(str).str.strip()
    bad = sorted({v for v in values[keep] if not CL_ID.match(v) or _label(v) is None})
    if bad:
        raise UsageError(
            f"--ontology-key {column!r} holds values that are no Cell Ontology id of this"
            f" release ({_listed(bad)}); give the column of CL ids (CL:0000000)"
        )
    return values.where(pd.Series(keep, index=values.index))


def _mapped(
    labels: pd.Series, keep: np.ndarray, label_map: dict[str, str], unscored: dict[str, str]
) -> pd.Series:
    """Per cell the CL id the map gives its label; labels the map lacks are listed unscored."""
    bad = sorted({v for v in label_map.values() if not CL_ID.match(v) or _label(v) is None})
    if bad:
        raise UsageError(
            f"the label map gives values that are no Cell Ontology id of this release"
            f" ({_listed(bad)}); map each label to a CL id (CL:0000000)"
        )
    for name in sorted(set(labels[keep]) - set(label_map)):
        unscored[name] = "not in the label map"
    return labels.map(label_map).where(pd.Series(keep, index=labels.index))


def _read_labels(labels: pd.Series, keep: np.ndarray, unscored: dict[str, str]) -> pd.Series:
    """Per cell the CL term its label reads as (None where it reads as none, said in
    `unscored`), the labels read together as one list, as a candidate list is."""
    names = sorted(set(labels[keep]))
    read = dict(zip(names, free_labels.user_candidates(names), strict=True))
    for name, cand in read.items():
        if cand.cl_id is None:
            unscored[name] = "not read as a Cell Ontology term"
    ids = {name: cand.cl_id for name, cand in read.items()}
    return labels.map(ids).where(pd.Series(keep, index=labels.index))


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


def _rankings(
    adata: Any, label_key: str, store: Store, read: dict[str, Any], **settings: Any
) -> tuple[dict[str, np.ndarray], list[str | None], list[str], Any, str]:
    """Every ranking over the whole ontology for the groups, the CL ids, the group names, the
    lineage signatures and the species read. `settings`: `annotate`'s (`AnnotateParams`)."""
    key, groups = groups_of(adata, label_key)
    load_encoder = settings.pop("load_encoder", None)
    params, cands = setup(key, None, None, None, **settings)
    expr = expression(adata, layer=read.get("layer"), gene_key=read.get("gene_key"))
    sums = group_sums(expr.X, np.asarray(groups.codes), len(groups.categories))
    sc = score_channels(
        expr.genes, sums, len(groups.categories), store, params, cands, gene_totals=expr.X,
        taxon=read.get("taxon"), build_missing=True, load_encoder=load_encoder,
    )  # fmt: skip
    matrices, _ = fusion.rankings(sc.channel, params.method)
    names = [str(c) for c in groups.categories]
    return matrices, [c.cl_id for c in cands.terms], names, sc.signature, sc.taxon


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
    `settings`: `annotate`'s (model, n_markers, ...; a `load_encoder` for tests)."""
    kept, truth, how = file_truth(adata, label_key, ontology_key, label_map)
    out: dict[str, Any] = {"n_cells": int(kept.n_obs), "n_groups": len(truth), "truth": how}
    draws = [("real", 0)] + [(c, s) for c in CONTROLS for s in range(seeds)]
    for vectors, seed in draws:
        log(f"scoring {len(truth)} groups with {vectors} gene vectors (seed {seed})")
        matrices, cl_ids, names, sig, taxon = _rankings(
            kept, label_key, store, reading or {}, gene_vectors=vectors, seed=seed, **settings
        )
        out["taxon"] = taxon
        for ranking in RANKINGS:
            with_sig = sig if ranking != "knowledge" else None
            table = matrices[fusion.TABLE] if ranking == fusion.FUSED else None
            every = calls_of(matrices[ranking], cl_ids, True, with_sig, taxon, table)
            scored = [n for n in names if n in truth]
            calls = [c for c, n in zip(every, names, strict=True) if n in truth]
            graded = grade_calls(calls, scored, truth)
            if vectors == "real" and ranking == fusion.FUSED:
                out["calls"] = _call_rows(calls, scored, graded, how)
            out.setdefault(f"{ranking}|{vectors}", []).append(_shares(graded))
    log(f"naming {len(truth)} groups from the file's own {len(set(truth.values()))} terms")
    out["own_list"] = own_list(kept, label_key, store, truth, **(reading or {}), **settings)
    return out


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
                "confidence": call.get("confidence"),
            }
        )
    return rows
