"""`cellmodel bench --task annotate` with a candidate list: the file's own CL terms (its graded
groups' truths) given as the list, and the groups each ranking names exactly at rank 1 (the
default beside every channel alone, so a user sees whether the default names as many as its best
single channel)."""

from __future__ import annotations

from typing import Any

from cellmodel.annotate import annotate, report_of
from cellmodel.annotate.evaluate import METHOD_KEYS
from genekb.store.store import Store

SINGLE = ("text", "mentions", "processes", "markerdb")  # the channels, not combinations


def own_list(
    adata: Any, label_key: str, store: Store, truth: dict[str, str], **settings: Any
) -> dict[str, Any]:
    """Per ranking, how many graded groups get their own term out of the file's own terms, and
    the best single channel's count."""
    own = sorted(set(truth.values()))
    if len(own) < 2:  # a list of one term chooses nothing
        return {"n_candidates": len(own), "n_groups": len(truth), "exact": None}
    named = annotate(adata, store, groupby=label_key, candidates=own, copy=True, **settings)
    exact = dict.fromkeys(METHOD_KEYS, 0)
    for entry in report_of(named)["groups"]:
        want = truth.get(entry["group"])
        if want is None:
            continue  # a group without a truth is named, not graded
        for method in METHOD_KEYS:
            top = [t for t in entry[method]["top"] if t["score"] is not None]
            exact[method] += bool(top) and top[0]["cl_id"] == want
    best = max(SINGLE, key=lambda m: exact[m])
    return {
        "n_candidates": len(own),
        "n_groups": len(truth),
        "exact": exact,
        "best_single": {"channel": best, "exact": exact[best]},
    }
