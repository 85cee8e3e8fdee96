"""The benchmark: datasets × methods × seeds, each (dataset, method) in a fresh process.

Protocol (what `cellmodel bench` promises and `docs/benchmarks.md` restates):

- Every method gets an AnnData *without labels*: `hide_labels` keeps only the expression (X,
  layers, .raw) and the gene table; obs columns, obsm, obsp, uns and the cell names are dropped
  (a dataset's technical batch column, e.g. Baron's donor, is the one exception: every method gets
  it as obs["batch"] and corrects for it the same way),
  because datasets carry labels in more than one column (Baron's `cell_ontology_class` repeats
  `cell_type1`) and precomputed embeddings. Methods that take k receive the *number* of label
  classes (the protocol the published peers use), never the labels. Labels are read back only to
  score a finished run.
- Each (dataset, method) runs in its own subprocess with all its seeds inside; each seed is timed
  on its own (method call only: no data loading, no scoring) and the process's peak resident
  memory is reported once per (dataset, method), so one method's memory never inflates
  another's. Peak memory is the kernel's high-water mark of the process since its own exec
  (`VmHWM` in /proc/self/status): on Linux `getrusage(RUSAGE_SELF).ru_maxrss` of a child carries
  the parent's peak across fork + exec, so ru_maxrss is recorded beside it but not used.
- Label-free preprocessing shared by several methods (building the store's vectors for the
  data's genes, embedding the cell sentences of the real and the control gene vectors into the
  sentence cache) is warmed once, up front, in its own process, and reported as such.

Methods live in a registry (`METHODS`, `register_method`); a worker imports the method's module,
so a method registered elsewhere (a test's spy) runs through the same subprocess path.
The scale mode runs the same machinery on synthetic counts (`synthetic_counts`) at given sizes
and fits the growth exponent of time in cells.

Layout: `settings` (defaults), `registry` (methods' contract and registry), `methods` (the
built-in adapters, registered on import), `data` (datasets, synthetic counts, hiding labels),
`worker` (the subprocess side), `runner` (the parent side: `run_bench`), `aggregate`, `report`
(Markdown, chart, files), `machine` and `docs` (a run's `bench.json` into the repository's
`docs/benchmarks.md`; `scripts/bench_docs.py` is its command).

What the experiment drivers in scripts/ share lives here too, so that no script imports another:
`annotate_eval` (the annotate experiments and their docs pages), `clusters` (cached
expression-only clusters), `doc_pages` (generated tables into docs pages) and `screens` (the
classify splits, key=value settings).
"""

from __future__ import annotations

from cellmodel.bench import refine_methods  # noqa: F401  (registers the cellmodel-refine methods)
from cellmodel.bench.aggregate import (
    growth_exponent,
    mean_std,
    scale_summary,
    summarize,
)
from cellmodel.bench.data import (
    DatasetRef,
    hide_labels,
    load_dataset,
    parse_datasets,
    reference_labels,
    synthetic_counts,
    synthetic_symbols,
)
from cellmodel.bench.machine import (
    machine_info,
)
from cellmodel.bench.methods import (
    leiden_labels,
    leiden_to_k,
)
from cellmodel.bench.registry import (
    BUILTIN_METHODS,
    METHODS,
    Method,
    MethodFn,
    MethodInput,
    MethodOutput,
    get_method,
    parse_methods,
    register_method,
)
from cellmodel.bench.report import (
    BENCH_FILES,
    plot_ari,
    render_markdown,
    render_scale,
    write_outputs,
)
from cellmodel.bench.runner import (
    PROTOCOL,
    BenchConfig,
    Log,
    run_bench,
    warmup_controls,
)
from cellmodel.bench.settings import (
    BATCH_COLUMN,
    CONTROL_SEED,
    DEFAULT_DATASETS,
    DEFAULT_SCALE,
    DEFAULT_SEEDS,
    DEFAULT_TIMEOUT_S,
    METRICS,
    PRELOAD,
    REPORT_FORMAT,
    SCALE_METHODS,
    SYNTHETIC_GENES,
    SYNTHETIC_GROUPS,
    SYNTHETIC_LABEL_KEY,
    SYNTHETIC_PREFIX,
    THREAD_VARIABLES,
)
from cellmodel.bench.worker import (
    peak_rss_mb,
    run_cell,
    run_warmup,
    worker_main,
)

__all__ = [
    "BATCH_COLUMN",
    "BENCH_FILES",
    "BUILTIN_METHODS",
    "CONTROL_SEED",
    "DEFAULT_DATASETS",
    "DEFAULT_SCALE",
    "DEFAULT_SEEDS",
    "DEFAULT_TIMEOUT_S",
    "METHODS",
    "METRICS",
    "PRELOAD",
    "PROTOCOL",
    "REPORT_FORMAT",
    "SCALE_METHODS",
    "SYNTHETIC_GENES",
    "SYNTHETIC_GROUPS",
    "SYNTHETIC_LABEL_KEY",
    "SYNTHETIC_PREFIX",
    "THREAD_VARIABLES",
    "BenchConfig",
    "DatasetRef",
    "Log",
    "Method",
    "MethodFn",
    "MethodInput",
    "MethodOutput",
    "get_method",
    "growth_exponent",
    "hide_labels",
    "leiden_labels",
    "leiden_to_k",
    "load_dataset",
    "machine_info",
    "mean_std",
    "parse_datasets",
    "parse_methods",
    "peak_rss_mb",
    "plot_ari",
    "reference_labels",
    "register_method",
    "render_markdown",
    "render_scale",
    "run_bench",
    "run_cell",
    "run_warmup",
    "scale_summary",
    "summarize",
    "synthetic_counts",
    "synthetic_symbols",
    "warmup_controls",
    "worker_main",
    "write_outputs",
]
