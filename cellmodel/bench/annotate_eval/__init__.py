"""The annotate experiments: `cellmodel annotate` scored on the registry datasets against their
reference CL ids, and the docs pages written from the scores. Labels only score.

Layout: `cases` (the datasets, each cell's truth, the channel sums and ablations), `runs` (every
run of docs/annotate_experiments.md: `run_experiments`), `tables`, `prose` and `page` (that page:
`experiments_markdown`), `default` (the default against each ranking alone:
docs/annotate_default.md), `cells` (per-cell calls against the groups' calls). The drivers are
scripts/exp_annotate.py, exp_annotate_default.py and exp_annotate_cells.py; the clusters they
score are `cellmodel.bench.clusters.cached_cluster`'s.
"""

from __future__ import annotations

from cellmodel.bench.annotate_eval.cases import (
    ABLATIONS,
    CHANNEL_SUMS,
    DATASETS,
    HELD_OUT,
    SUMMED_ALL,
    TISSUES,
    Case,
    cells_truth,
    cluster_truth,
    load_case,
    merge_results,
)
from cellmodel.bench.annotate_eval.cells import (
    PER_CELL_HEADER,
    format_cells,
    per_cell_rows,
    score_cells,
)
from cellmodel.bench.annotate_eval.default import default_markdown, run_default
from cellmodel.bench.annotate_eval.page import experiments_markdown
from cellmodel.bench.annotate_eval.runs import (
    channel_scores,
    control_scores,
    run_experiments,
    score_run,
    tissue_scores,
)

__all__ = [
    "ABLATIONS",
    "CHANNEL_SUMS",
    "DATASETS",
    "HELD_OUT",
    "PER_CELL_HEADER",
    "SUMMED_ALL",
    "TISSUES",
    "Case",
    "cells_truth",
    "channel_scores",
    "cluster_truth",
    "control_scores",
    "default_markdown",
    "experiments_markdown",
    "format_cells",
    "load_case",
    "merge_results",
    "per_cell_rows",
    "run_default",
    "run_experiments",
    "score_cells",
    "score_run",
    "tissue_scores",
]
