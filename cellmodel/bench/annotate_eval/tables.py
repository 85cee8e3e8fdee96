"""The tables of docs/annotate_experiments.md, each built from `run_experiments`'s results:
every ranking beside its controls (`score_table`), the default against its best single ranking,
the tissue runs, the clusters, each channel's share, the ablation, the time and the calls."""

from __future__ import annotations

from typing import Any

import numpy as np

from cellmodel.annotate.evaluate import METHOD_KEYS
from cellmodel.bench.annotate_eval.cases import (
    ABLATIONS,
    CHANNEL_SUMS,
    HELD_OUT,
    METHOD_NAMES,
    SINGLE,
    SUMMED_ALL,
)


def _ms(values: list[int]) -> str:
    """mean ± std."""
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}"


def _row(name: str, n: int, block: dict[str, Any], key: str) -> str:
    real = block["real"]

    def controls(method: str, which: str = "shuffled") -> str:
        return _ms([r[method][key] for r in block[which]])

    words = block["bag-of-words"]["text"][key]
    return (
        f"| {name} | {n} | **{real['text'][key]}** | {controls('text')} |"
        f" {controls('text', 'random')} | {words} | {real['mentions'][key]} |"
        f" {controls('mentions')} | {real['processes'][key]} | {controls('processes')} |"
        f" **{real['knowledge'][key]}** | {controls('knowledge')} |"
        f" {controls('knowledge', 'random')} |"
        f" {real['markerdb'][key]} | **{real['combined'][key]}** | {controls('combined')} |"
    )


def score_table(results: dict[str, Any], block: str, keys: list[str], n_key: str) -> list[str]:
    """One table per credit in `keys`: every ranking of `block` beside its controls, per dataset."""
    lines: list[str] = []
    for key in keys:
        credit = "exactly" if key.startswith("exact") else "exactly or by a direct parent / child"
        where = "at rank 1" if key.endswith("1") else "within the top 3"
        lines += [
            f"**{key}**: groups named {credit}, {where}.",
            "",
            "| dataset | groups | text | text (shuffled) | text (random) | text (bag of words) |"
            " mentions | mentions (shuffled) | processes | processes (shuffled) |"
            " knowledge: text + mentions + processes (+ context) | knowledge (shuffled) |"
            " knowledge (random) | marker table |"
            " knowledge + table (default) | knowledge (shuffled) + table |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, entry in results["data"].items():
            lines.append(_row(name, entry[n_key], entry[block], key))
        lines.append("")
    return lines


def subsets(results: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """The development datasets and the held-out ones (see HELD_OUT), each non-empty."""
    data = results["data"]
    out = {
        "summed over the development datasets": [e for n, e in data.items() if n not in HELD_OUT],
        "summed over the held-out datasets": [e for n, e in data.items() if n in HELD_OUT],
    }
    return {k: v for k, v in out.items() if v}


def sum_line(entries: list[dict[str, Any]], block: str, key: str, subset: str) -> str:
    """One Reading line: each ranking's `key` of `block` summed over `entries`, beside the mean of
    its shuffled controls and the bag of words."""
    total = {m: sum(e[block]["real"][m][key] for e in entries) for m in METHOD_KEYS}
    shuffled = {
        m: sum(np.mean([r[m][key] for r in e[block]["shuffled"]]) for e in entries)
        for m in METHOD_KEYS
    }
    words = sum(e[block]["bag-of-words"]["text"][key] for e in entries)
    n = sum(e["n_groups" if block.startswith("true") else "n_clusters"] for e in entries)
    return (
        f"{subset} ({n} groups): text {total['text']} (shuffled"
        f" {shuffled['text']:.1f}, bag of words {words}); mentions {total['mentions']}"
        f" (shuffled {shuffled['mentions']:.1f}); processes {total['processes']} (shuffled"
        f" {shuffled['processes']:.1f}); knowledge {total['knowledge']} (shuffled"
        f" {shuffled['knowledge']:.1f}); marker table {total['markerdb']}; knowledge + table"
        f" {total['combined']} (with shuffled knowledge {shuffled['combined']:.1f})."
    )


def tissue_table(results: dict[str, Any]) -> list[str]:
    rows = {n: e["true_tissue"] for n, e in results["data"].items() if "true_tissue" in e}
    if not rows:
        return []
    lines = [
        "## True-label groups, candidates = the CL terms naming the tissue (`--tissue`)",
        "",
        "The CL terms whose label, synonyms or definition name the word; a group whose truth is"
        " not among them cannot be named. Real vectors; exact@1 / aware@3. The context prior is"
        " off here (the candidates are already restricted).",
        "",
        "| dataset | word | groups | candidates | groups whose truth is a candidate | "
        + " | ".join(METHOD_NAMES[m] for m in METHOD_KEYS)
        + " |",
        "|---|---|---|---|---|" + "---|" * len(METHOD_KEYS),
    ]
    for name, t in rows.items():
        cells = " | ".join(
            f"{t['scores'][m]['exact@1']} / {t['scores'][m]['aware@3']}" for m in METHOD_KEYS
        )
        lines.append(
            f"| {name} | {t['word']} | {t['scores']['text']['n_groups']} | {t['n_candidates']} |"
            f" {t['truth_among']} | {cells} |"
        )
    return [*lines, ""]


BEST_BLOCKS = [
    ("true_own", "exact@1", "true groups, own terms, exact@1"),
    ("true_all", "aware@3", "true groups, all CL, aware@3"),
    ("clusters_own", "exact@1", "clusters, own terms, exact@1"),
    ("clusters_all", "aware@3", "clusters, all CL, aware@3"),
]


def best_table(results: dict[str, Any]) -> list[str]:
    """Per file: the default beside the best single ranking (and, on true groups, the sum)."""
    lines = [
        "## The default against its best single ranking",
        "",
        "Per file and setting: the best of the five rankings alone (text, mentions, processes,"
        " knowledge, marker table; which one in brackets), then the default, and on true groups"
        " the equal-weight sum of all (the default before its weighting; own terms only: over"
        " all CL the default is that sum).",
        "",
        "| dataset | " + " | ".join(t for _, _, t in BEST_BLOCKS) + " |",
        "|---|" + "---|" * len(BEST_BLOCKS),
    ]
    for name, e in results["data"].items():
        cells = []
        for block, key, _ in BEST_BLOCKS:
            real = e[block]["real"]
            best = max(real[m][key] for m in SINGLE)
            which = "/".join(METHOD_NAMES[m] for m in SINGLE if real[m][key] == best)
            cell = f"best {best} ({which}), default **{real['combined'][key]}**"
            if block == "true_own":
                cell += f", sum {e['channels_own'][SUMMED_ALL][key]}"
            cells.append(cell)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def channel_table(results: dict[str, Any]) -> list[str]:
    """Every sum of channels per dataset, then summed over the development and held-out ones."""
    data = results["data"]
    lines = [
        "## Each channel's share (true-label groups, real vectors)",
        "",
        "Every sum of channels `--method` accepts ('+'), scored on the same groups: own CL terms"
        " exact@1 / all CL terms aware@3, per dataset, then summed.",
        "",
        "| channels | "
        + " | ".join(f"{n} ({e['n_groups']})" for n, e in data.items())
        + " | sum, development | sum, held out |",
        "|---|" + "---|" * (len(data) + 2),
    ]
    for label, method in CHANNEL_SUMS:
        cells = {
            n: (e["channels_own"][method]["exact@1"], e["channels_all"][method]["aware@3"])
            for n, e in data.items()
        }
        sums = []
        for held in (False, True):
            part = [c for n, c in cells.items() if (n in HELD_OUT) == held]
            sums.append(f"{sum(c[0] for c in part)} / {sum(c[1] for c in part)}")
        row = " | ".join(f"{a} / {b}" for a, b in cells.values())
        lines.append(f"| {label} | {row} | " + " | ".join(sums) + " |")
    return [*lines, ""]


def cluster_tables(results: dict[str, Any]) -> list[str]:
    """The clusters: how each dataset was clustered, then every ranking over own and all terms."""
    lines = [
        "## End to end: `cellmodel cluster` clusters (expression only, seed 0)",
        "",
        "Clusters found without labels; each cluster's truth is its majority CL id. The clusters"
        " are kept in the output folder as clusters-DATASET-seed0-ID.csv (ID: a hash of every"
        " default `cellmodel cluster` runs with) and reused only by reruns under that default.",
        "",
        "| dataset | clusters | cluster defaults (ID) | seconds to cluster |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {e['n_clusters']} | {e['cluster_defaults']} |"
        f" {e['cluster_seconds'] or 'cached'} |"
        for n, e in results["data"].items()
    ]
    lines.append("")
    lines += ["### Own CL terms", ""]
    lines += score_table(results, "clusters_own", ["exact@1", "aware@1"], "n_clusters")
    lines += ["### All Cell Ontology cell types", ""]
    lines += score_table(
        results, "clusters_all", ["exact@1", "aware@1", "exact@3", "aware@3"], "n_clusters"
    )
    return lines


def ablation_table(results: dict[str, Any]) -> list[str]:
    """The text method with one part changed per row, true groups, own terms, exact@1."""
    data = results["data"]
    names = list(data)
    lines = [
        "## Ablation of the text method (true-label groups, own CL terms, real vectors)",
        "",
        "Groups named exactly at rank 1; each row changes one part of the default.",
        "",
        "| variant | " + " | ".join(f"{n} ({data[n]['n_groups']})" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for label, _ in ABLATIONS:
        cells = [str(data[n]["ablation"][label]["exact@1"]) for n in names]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def time_table(results: dict[str, Any]) -> list[str]:
    """Seconds of one real-vector call per dataset, own terms and all terms."""
    lines = [
        "",
        "## Time",
        "",
        "Seconds for one `annotate` call inside this script, true-label groups, real vectors, on"
        " the machine that ran it (2 cores shared with other jobs). Candidate texts were cached;"
        " the first call of the process also read the gene reference and the marker table, and a"
        " first call on a dataset also embedded the marker genes the store lacked (so the first"
        " rows of the own-terms column are not the steady state; every later call reused them):",
        "",
        "| dataset | cells | own CL terms | all CL terms |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {e['n_cells']} | {e['true_own']['seconds_real']} |"
        f" {e['true_all']['seconds_real']} |"
        for n, e in results["data"].items()
    ]
    return lines


def calls_per_group(results: dict[str, Any]) -> list[str]:
    """Each true group's call by every ranking and by the default, own terms."""
    lines = [
        "",
        "## Calls per group (true-label groups, own CL terms, real vectors; all = the default)",
        "",
    ]
    for name, entry in results["data"].items():
        calls = entry["true_own"]["real"]
        lines += [
            f"**{name}**: "
            + "; ".join(
                f"{g} → text {calls['text']['calls'][g]}, mentions"
                f" {calls['mentions']['calls'][g]}, processes {calls['processes']['calls'][g]},"
                f" knowledge {calls['knowledge']['calls'][g]},"
                f" table {calls['markerdb']['calls'][g]}, all {calls['combined']['calls'][g]}"
                for g in calls["text"]["calls"]
            ),
            "",
        ]
    return lines
