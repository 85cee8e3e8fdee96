"""docs/annotate_experiments.md from `run_experiments`'s results: the hand-written prose
(`prose`), the tables (`tables`) and a Reading whose sums are computed from the tables, so the
words follow the numbers."""

from __future__ import annotations

from typing import Any

from cellmodel.bench.annotate_eval import prose
from cellmodel.bench.annotate_eval.cases import HELD_OUT
from cellmodel.bench.annotate_eval.tables import (
    ablation_table,
    best_table,
    calls_per_group,
    channel_table,
    cluster_tables,
    score_table,
    subsets,
    sum_line,
    time_table,
    tissue_table,
)


def experiments_markdown(results: dict[str, Any], command: str) -> str:
    """The whole page; `command` is the one that regenerates it, as the page shows it."""
    lines = _head(results, command)
    lines += best_table(results)
    lines += score_table(results, "true_own", ["exact@1", "aware@1"], "n_groups")
    lines += ["## True-label groups, candidates = all Cell Ontology cell types", ""]
    lines += score_table(
        results, "true_all", ["exact@1", "aware@1", "exact@3", "aware@3"], "n_groups"
    )
    lines += tissue_table(results)
    lines += cluster_tables(results)
    lines += _reading(results)
    lines += channel_table(results)
    lines += ablation_table(results)
    lines += time_table(results)
    lines += calls_per_group(results)
    return "\n".join(lines)


def _head(results: dict[str, Any], command: str) -> list[str]:
    """From the title to the first table's heading: what is measured, how to regenerate it, the
    truth, the held-out datasets, how the defaults were set and what was probed."""
    return [
        "# Annotate: naming cell groups from gene knowledge, zero-shot",
        "",
        prose.INTRO,
        "",
        f"Regenerate everything on this page with `{command}`"
        f" (Cell Ontology {results['cl_version']} from cellxgene-ontology-guide 1.11.1; marker"
        " table: CellConsensus 1.2.0, MIT; controls over seeds"
        f" 0..{results['seeds'] - 1}, mean ± std).",
        "",
        prose.TRUTH,
        "",
        "**Held out:** " + ", ".join(HELD_OUT) + prose.HELD_OUT_NOTE,
        "",
        prose.DEFAULTS_SET,
        "",
        prose.WEIGHTING,
        "",
        prose.PROBED_HEAD,
        "",
        *prose.PROBED,
        "",
        "## True-label groups, candidates = the dataset's own CL terms",
        "",
    ]


def _reading(results: dict[str, Any]) -> list[str]:
    """What the tables say, computed from them (so the words follow the numbers)."""
    lines = ["## Reading", ""]
    for block, title in [
        ("true_own", "true groups, own terms, exact@1"),
        ("true_all", "true groups, all CL, aware@3"),
        ("clusters_own", "clusters, own terms, exact@1"),
        ("clusters_all", "clusters, all CL, aware@3"),
    ]:
        key = "exact@1" if block.endswith("own") else "aware@3"
        for subset, entries in subsets(results).items():
            lines += [f"- {title}, {sum_line(entries, block, key, subset)}", ""]
    lines += [
        prose.READING_PROCESSES,
        "",
        *_context_reading(results),
        prose.READING_MENTIONS,
        "",
        prose.READING_TABLE,
        "",
        prose.READING_HELD_OUT,
        "",
    ]
    return lines


def _context_reading(results: dict[str, Any]) -> list[str]:
    """The context prior's share over all CL terms, from the channel table's sums."""
    without = {
        "knowledge": "text+mentions+processes",
        "combined": "text+mentions+processes+markerdb",
    }
    parts = []
    for subset, entries in subsets(results).items():
        total = {
            m: sum(e["channels_all"][m]["aware@3"] for e in entries)
            for m in (*without, *without.values())
        }
        parts.append(
            f"{subset.removeprefix('summed over the ')}: knowledge"
            f" {total[without['knowledge']]} → {total['knowledge']}, the default"
            f" {total[without['combined']]} → {total['combined']}"
        )
    tops = "; ".join(
        f"{n}: {', '.join(e['true_all']['context'][:3])}" for n, e in results["data"].items()
    )
    return [
        "The context prior works over the whole ontology, where a group's own evidence often"
        " fits several terms alike: a delta cell's somatostatin is named by the text of the"
        " pancreatic D cell and of several neurons, and the prior, which reads every group of"
        " the file, prefers the term the other groups support too. Over all CL terms, true"
        " groups, aware@3, without and with it (channel table): " + "; ".join(parts) + ". Over"
        " a dataset's own terms and over a tissue's it is off, so those figures do not move."
        " The terms it ranks first (the report's context line) are of the kind the data hold"
        " where one kind"
        " dominates, and for the pancreas files vascular and immune cells, because the mean"
        " rewards a term that many groups fit a little: " + tops + ".",
        "",
    ]
