"""The tables of docs/annotate_ontology.md from `ontology_runs` results (one dict per file)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cellmodel.bench.annotate_eval.ontology_runs import RANKINGS

# side key of a result (`ontology_runs.side_of`) -> how the tables name it
SIDES = {
    "development": "development",
    "seen": "seen (first round's held out)",
    "seen2": "seen (second round's held out)",
    "held out": "new held out",
}
SINGLE = ("text", "mentions", "processes", "knowledge", "markerdb")


def _side(r: dict[str, Any]) -> str:
    """A result's side; results written before the second round carry only `held_out`."""
    return r.get("side") or ("seen" if r.get("held_out") else "development")


def _pooled(results: dict[str, Any], side: str, key: str) -> list[dict[str, float]]:
    """Per seed, the side's counts summed over its files (one entry for real vectors)."""
    files = [r for r in results.values() if _side(r) == side and key in r]
    if not files:
        return []
    n_seeds = min(len(r[key]) for r in files)
    out = []
    for s in range(n_seeds):
        total = {k: sum(r[key][s][k] for r in files) for k in ("exact", "partial", "n_groups")}
        total["wrong_lineage"] = sum(r[key][s]["wrong_lineage"] for r in files)
        out.append(total)
    return out


def _pct(values: list[float]) -> str:
    if not values:
        return "—"
    if len(values) == 1:
        return f"{values[0]:.0f} %"
    return f"{np.mean(values):.0f} ± {np.std(values):.0f} %"


def _row(results: dict[str, Any], side: str, ranking: str, way: str) -> list[str]:
    real = _pooled(results, side, f"{ranking}|{way}|real")
    if not real:
        return []
    t = real[0]
    n = t["n_groups"]
    cells = [
        f"{100 * t['exact'] / n:.0f} %",
        f"{100 * (t['exact'] + t['partial']) / n:.0f} %",
        f"{100 * t['wrong_lineage'] / n:.0f} %",
        str(n),
    ]
    for control in ("shuffled", "random"):
        runs = _pooled(results, side, f"{ranking}|{way}|{control}")
        cells.append(_pct([100 * (r["exact"] + r["partial"]) / r["n_groups"] for r in runs]))
    return cells


def summary_table(results: dict[str, Any]) -> list[str]:
    """Each side's rows (development, seen, new held out): each ranking flat and lineage-first."""
    lines = [
        "| side | ranking | calls | exact | exact + partial | wrong lineage | groups"
        " | e+p shuffled | e+p random |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for side, side_name in SIDES.items():
        for ranking, title in RANKINGS.items():
            for way, how in (("walk", "lineage first"), ("flat", "flat best term")):
                cells = _row(results, side, ranking, way)
                if not cells:
                    continue
                bold = ranking == "combined" and way == "walk"
                name = f"**{title}**" if bold else title
                lines.append(f"| {side_name} | {name} | {how} | " + " | ".join(cells) + " |")
    return lines


def files_table(results: dict[str, Any]) -> list[str]:
    """Per file, the default's lineage-first calls with real vectors."""
    lines = [
        "| file | side | groups | exact | partial | wrong | of which wrong lineage | stopped"
        " broader |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        t = r["combined|walk|real"][0]
        side = SIDES[_side(r)]
        lines.append(
            f"| {name} | {side} | {t['n_groups']} | {t['exact']} | {t['partial']} | {t['wrong']}"
            f" | {t['wrong_lineage']} | {t['abstained']} |"
        )
    return lines


def list_table(results: dict[str, Any]) -> list[str]:
    """With the file's own CL terms as the candidate list: exact@1 of each ranking and the
    default, and whether the default reaches its best single ranking."""
    lines = [
        "| file | groups | " + " | ".join(SINGLE) + " | best alone | default | default ≥ best |",
        "|---|---|" + "---|" * (len(SINGLE) + 3),
    ]
    for name, r in results.items():
        own = r.get("own_list")
        if not own:
            continue
        best = max(own[m] for m in SINGLE)
        lines.append(
            f"| {name} | {r['n_groups']} | "
            + " | ".join(str(own[m]) for m in SINGLE)
            + f" | {best} | {own['combined']} | {'yes' if own['combined'] >= best else 'no'} |"
        )
    return lines


def calls_table(results: dict[str, Any], label_of: Any) -> list[str]:
    """Every group's truth and the default's lineage-first call (real vectors)."""
    lines = ["| file | group | truth | call | grade |", "|---|---|---|---|---|"]
    for name, r in results.items():
        for group, g in r["combined|walk|real"][0]["groups"].items():
            call = label_of(g["call"]) if g["call"] else "—"
            lines.append(f"| {name} | {group} | {label_of(g['truth'])} | {call} | {g['grade']} |")
    return lines


def ontology_markdown(results: dict[str, Any]) -> str:
    from cellmodel.annotate import ontology

    def label_of(cl_id: str) -> str:
        try:
            return str(ontology.parser().get_term_label(cl_id))
        except Exception:  # a truth outside the live ontology is shown as its id
            return cl_id

    parts = [
        "### Whole ontology, true groups, no candidates, no --tissue",
        "",
        *summary_table(results),
        "",
        "### The default per file (lineage first, real vectors)",
        "",
        *files_table(results),
        "",
        "### With a candidate list (the file's own CL terms): groups named exactly",
        "",
        *list_table(results),
        "",
        "### Every call (default, lineage first, real vectors)",
        "",
        *calls_table(results, label_of),
    ]
    return "\n".join(parts)
