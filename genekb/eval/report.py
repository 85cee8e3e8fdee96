"""Markdown for an `evaluate` document: one scores table with the controls beside the vectors,
the coverage of each task, and the label words found in the texts."""

from __future__ import annotations

from typing import Any

from genekb.ensembl import foreign_prefix_note
from genekb.errors import CONTROL_ESCAPES
from genekb.eval.controls import FEATURE_SETS
from genekb.genemap import shared_name_note, spreadsheet_date_note

LABELS = {
    "vectors": "vectors",
    "shuffled": "shuffled",
    "random": "random",
    "annotation-depth": "annotation depth",
    "bag-of-words": "bag-of-words",
    "vectors+bag-of-words": "vectors + bag-of-words",
}


def cell(score: dict[str, Any] | None) -> str:
    return "" if not score else f"{score['mean']:.3f} ± {score['std']:.3f}"


def version_name(info: dict[str, Any]) -> str:
    return info.get("tag") or info["id"]


def scores_table(document: dict[str, Any]) -> str:
    present = [
        n for n in FEATURE_SETS if any(n in r.get("scores", {}) for r in document["results"])
    ]
    head = ["version", "task", "genes", "metric", *[LABELS[n] for n in present]]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in document["results"]:
        cov = r["coverage"]
        genes = f"{cov['found']} / {cov['asked']}"
        if "skipped" in r:
            cells = ["skipped"] + [""] * (len(present) - 1)
            metric = ""
        else:
            scores = r["scores"]
            best = max(scores, key=lambda n: scores[n]["mean"])
            cells = [
                (f"**{cell(scores.get(n))}**" if n == best else cell(scores.get(n)))
                for n in present
            ]
            metric = r["metric"]
        lines.append(
            "| " + " | ".join([version_name(r["version"]), r["task"], genes, metric, *cells]) + " |"
        )
    return "\n".join(lines)


def coverage_lines(document: dict[str, Any]) -> list[str]:
    out = []
    for r in document["results"]:
        cov = r["coverage"]
        routes = ", ".join(f"{k} {v}" for k, v in sorted(cov["by_route"].items())) or "none"
        line = (
            f"- {version_name(r['version'])} / {r['task']}: {cov['found']} of {cov['asked']} "
            f"genes ({routes})"
        )
        if "found_in_version" in cov:  # --common-genes
            held = cov["found_in_version"]
            line += f"; scored on the genes every version holds (this one holds {held})"
        if cov["missing"]:
            line += f"; missing {cov['missing']}, e.g. {', '.join(cov['missing_examples'][:5])}"
        if cov.get("missing_shared"):
            line += "; " + shared_name_note(cov["missing_shared_examples"], cov["missing_shared"])
        if cov.get("missing_dates"):
            line += "; " + spreadsheet_date_note(cov["missing_date_examples"], cov["missing_dates"])
        if cov.get("missing_other_species"):
            line += "; " + foreign_prefix_note(
                cov["missing_other_species"], cov.get("version_ensembl_prefixes", [])
            )
        if cov.get("mouse_style"):
            line += (
                f"; {cov['mouse_style']} names are written as mouse symbols (Cd3e) and were read"
                " as this version's genes of the same name, case aside"
            )
        if cov.get("repeated"):
            line += f"; {cov['repeated']} rows name a gene already counted"
        if cov.get("conflicting_labels"):
            line += f"; {cov['conflicting_labels']} rows dropped for conflicting labels"
        out.append(line)
    return out


def leakage_lines(document: dict[str, Any]) -> list[str]:
    out = []
    seen = set()
    for r in document["results"]:
        leak = r.get("leakage")
        key = (r["version"].get("template"), r["task"])
        if not leak or key in seen:
            continue
        seen.add(key)
        terms = [
            f"'{t['term']}' " + " / ".join(f"{c} {v:.0%}" for c, v in t["share_by_class"].items())
            for t in leak["label_terms"]
            if any(v > 0 for v in t["share_by_class"].values())
        ]
        words = [
            f"{w['word']} (" + " / ".join(f"{v:.0%}" for v in w["share_by_class"].values()) + ")"
            for w in leak["top_words"][:6]
        ]
        # the shares' order, which the words' parentheses do not repeat
        order = " / ".join(leak["top_words"][0]["share_by_class"]) if words else ""
        out.append(
            f"- {r['task']} on {key[0]} texts: label terms "
            + ("; ".join(terms) if terms else "absent")
            + (f". Words most tied to the label (in {order}): {', '.join(words)}" if words else "")
        )
    return out


# What each control column is, for the table's reader (genekb.eval.controls defines them).
_MEANINGS = {
    "shuffled": "the same vectors given to other genes of the task",
    "random": "Gaussian vectors of the same dimension",
    "annotation-depth": "six counts per gene, no words (GO terms, aliases, has-summary, text"
    " length): how well studied it is",
    "bag-of-words": "TF-IDF of the version's own texts, no model",
}


def controls_line(document: dict[str, Any]) -> str:
    """One line saying what each control column of the table holds."""
    shown = document["params"].get("feature_sets", [])
    parts = [f"{LABELS[n]}: {_MEANINGS[n]}" for n in _MEANINGS if n in shown]
    return ("Controls, on the same genes and folds: " + "; ".join(parts) + ".") if parts else ""


def to_markdown(document: dict[str, Any]) -> str:
    params = document["params"]
    parts = [
        scores_table(document),
        "",
        f"Mean ± std over {len(params['seeds'])} seed{'s' * (len(params['seeds']) > 1)} × "
        f"{params['folds']} folds; "
        f"{params['probe']}. Bold: the best column of the row.",
        *([line] if (line := controls_line(document)) else []),
        "",
        "Coverage:",
        *coverage_lines(document),
    ]
    leak = leakage_lines(document)
    if leak:
        parts += ["", "Label words in the texts (share of each class's texts):", *leak]
    # names from a user's file (missing genes, the task's name) may hold terminal escapes
    return ("\n".join(parts) + "\n").translate(CONTROL_ESCAPES)
