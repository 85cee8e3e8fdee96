"""The few lines on stderr that `cellmodel cluster` prints without --json, in memory and out of
core alike."""

from __future__ import annotations

from typing import Any

from cli.common import info, not_warned
from cli.flags import as_flags


def summary(report: dict[str, Any], label_key: str | None) -> None:
    """The report in a few lines on stderr: size, scores, the label-free choices, notes."""
    info(
        f"{report['n_clusters']} clusters of {report['n_cells']} cells in {report['seconds']:.1f} s"
        + (f" (gene match {rate:.1%})" if (rate := report.get("gene_match_rate")) else "")
    )
    metrics = report["metrics"]
    if metrics:
        info("  ".join(f"{k.upper()} {v:.3f}" for k, v in metrics.items()) + f"  (vs {label_key})")
    choice = report.get("batch_choice")  # in memory only, as the gene match
    if choice:
        ami = choice["batch_ami"]
        amis = ", ".join(f"{name} {value:.3f}" for name, value in ami.items())
        info(f"batch choice: kept the {choice['chosen']} partition (AMI with the batch: {amis})")
    checked = report["merge_split"]
    if checked and checked["n_moves"]:
        info(f"merge-split check in the PCA: {checked['n_moves']} move(s) kept")
    merged = (checked or {}).get("merges", {}).get("n_moves", 0)
    if merged:
        info(
            f"k estimated: {report['n_clusters'] + merged} Leiden communities, {merged} pair(s)"
            " without a density dip merged (pass -k to set k)"
        )
    found = report.get("diagnostics")  # an unsure run also warned
    if found:
        info(
            f"diagnostics: agreement with Leiden at k {found['agreement']:.2f}, stability over"
            f" k-means draws {found['stability']:.2f} ({'unsure' if found['unsure'] else 'sure'})"
        )
    for note in not_warned(report["notes"]):  # in the library's terms (batch_key=): the flags'
        info(f"note: {as_flags(note)}")
