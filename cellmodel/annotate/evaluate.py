"""Score an annotation against reference labels (experiments only: labels never steer a call).

Each group's truth is the CL id most of its cells carry (for `cellmodel cluster` clusters: the
majority label of the cluster). Credit is exact (the same CL id) or ontology-aware (the same id,
its direct parent or a direct child), at rank 1 and within the top 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anndata as ad
import pandas as pd

from cellmodel.annotate import ontology
from genekb.errors import GenekbError

METHOD_KEYS = ("text", "mentions", "processes", "knowledge", "markerdb", "combined")


def load_label_map(path: str | Path, dataset: str) -> dict[str, str]:
    """label -> CL id for one dataset from a reviewed CSV (dataset,label,cl_id,reason)."""
    table = pd.read_csv(path)
    rows = table[table["dataset"] == dataset]
    if rows.empty:
        raise GenekbError(f"{path} maps no labels of {dataset!r}")
    return dict(zip(rows["label"].astype(str), rows["cl_id"].astype(str), strict=True))


def cell_truth(
    adata: ad.AnnData, label_key: str, mapping: dict[str, str] | None = None
) -> pd.Series:
    """Per cell, its reference CL id: `obs[label_key]` itself, or mapped through `mapping`."""
    labels = adata.obs[label_key].astype(str)
    if mapping is None:
        return labels
    missing = sorted(set(labels) - set(mapping))
    if missing:
        raise GenekbError(f"no CL id for label(s) {missing}; add them to the mapping table")
    return labels.map(mapping)


def group_truth(groups: pd.Series, truth: pd.Series) -> dict[str, str]:
    """Each group's majority reference CL id (ties: the smaller id, for a stable answer)."""
    frame = pd.DataFrame({"group": groups.astype(str).to_numpy(), "truth": truth.to_numpy()})
    counts = frame.groupby(["group", "truth"]).size().reset_index(name="n")
    counts = counts.sort_values(["group", "n", "truth"], ascending=[True, False, True])
    return dict(
        zip(
            counts.drop_duplicates("group")["group"],
            counts.drop_duplicates("group")["truth"],
            strict=True,
        )
    )


def score_report(
    report: dict[str, Any], truth: dict[str, str], methods: tuple[str, ...] = METHOD_KEYS
) -> dict[str, dict[str, Any]]:
    """Per method: groups named exactly / ontology-aware at rank 1 and in the top 3."""
    out: dict[str, dict[str, Any]] = {}
    for method in methods:
        tally = {"exact@1": 0, "aware@1": 0, "exact@3": 0, "aware@3": 0}
        calls: dict[str, str | None] = {}
        for entry in report["groups"]:
            top = [t for t in entry[method]["top"] if t["score"] is not None]
            want = truth.get(entry["group"])
            calls[entry["group"]] = top[0]["cl_id"] if top else None
            for rank_limit in (1, 3):
                credits = [ontology.credit(t["cl_id"], want) for t in top[:rank_limit]]
                tally[f"exact@{rank_limit}"] += any(c[0] for c in credits)
                tally[f"aware@{rank_limit}"] += any(c[1] for c in credits)
        out[method] = {**tally, "n_groups": len(report["groups"]), "calls": calls}
    return out
