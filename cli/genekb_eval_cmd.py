"""`genekb eval` and `genekb import-vectors`: thin shells over `genekb.eval` and
`genekb.store.foreign`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli.cellmodel_args import JsonOpt, StoreRootOpt
from cli.common import add_commands, handle_errors, info, print_json
from cli.genekb_args import TaxonOpt
from genekb.api import default_ref
from genekb.genemap import shared_name_note, spreadsheet_date_note
from genekb.settings import MAX_SEEDS


def register(app: typer.Typer) -> None:
    """Add `eval` and `import-vectors` to the genekb app (once, however often it is called)."""
    add_commands(app, {"eval": eval_, "import-vectors": import_vectors})


_RefsArg = Annotated[
    list[str] | None,
    typer.Argument(help=f"Embedding ids, prefixes or tags (default: {default_ref()})."),
]
_TaskOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--task",
        "-t",
        help="Bundled task (dosage-tfs, hipred, pfam-families, cell-type-markers) or a CSV/TSV"
        " of gene and label; repeatable (default: dosage-tfs and hipred).",
    ),
]
_SeedsOpt = Annotated[
    int, typer.Option(min=1, max=MAX_SEEDS, help="Repetitions of the fold split.")
]
_FoldsOpt = Annotated[int, typer.Option(min=2, help="Cross-validation folds.")]
_ControlsOpt = Annotated[
    bool,
    typer.Option(
        help="Score the controls beside the vectors: shuffled, random, annotation depth,"
        " bag-of-words, vectors + bag-of-words."
    ),
]
_CommonOpt = Annotated[
    bool,
    typer.Option(
        "--common-genes",
        help="Score every version on the task genes all of them hold (else versions holding"
        " different genes of a task are scored on their own and warned of)."
    ),
]
_TuneOpt = Annotated[
    bool,
    typer.Option(help="Choose the probe's C by inner CV on each training fold (slower)."),
]


@handle_errors
def eval_(
    refs: _RefsArg = None,
    task: _TaskOpt = None,
    seeds: _SeedsOpt = 3,
    folds: _FoldsOpt = 5,
    controls: _ControlsOpt = True,
    tune: _TuneOpt = False,
    common_genes: _CommonOpt = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Score gene tasks from each version's vectors beside shuffled, random, annotation-depth and
    bag-of-words controls of the same genes (cross-validated ROC-AUC or macro-F1, mean ± std)."""
    from cli.progress import steady_progress
    from genekb.eval import evaluate
    from genekb.eval.controls import FEATURE_SETS
    from genekb.eval.tasks import DEFAULT_TASKS, resolve_task
    from genekb.progress import reporting
    from genekb.store.store import Store

    tasks = [resolve_task(t) for t in (task or DEFAULT_TASKS)]  # bad names fail before any work
    store = Store.open(root)
    versions = _versions(store, refs)
    names = FEATURE_SETS if controls else ("vectors",)
    with steady_progress("eval: reading the vectors") as progress, reporting(progress):
        document = evaluate(
            versions,
            tasks,
            seeds=seeds,
            folds=folds,
            feature_sets=names,
            tune=tune,
            common_genes=common_genes,
            log=info,
        )
    _print(document, json_)


def _print(document: dict[str, Any], json_: bool) -> None:
    """The table (or JSON) on stdout; each skipped task and the time on stderr."""
    from genekb.eval.report import to_markdown

    if json_:
        print_json(document)
    else:
        sys.stdout.write(to_markdown(document))
    for r in document["results"]:
        if "skipped" in r:
            info(f"skipped {r['task']} on {r['version']['tag'] or r['version']['id']}: "
                 f"{r['skipped']}")  # fmt: skip
    info(f"eval: {document['seconds']:.1f} s")


def _versions(store: Any, refs: list[str] | None) -> list[Any]:
    """The versions named; a task file among them (`-t tasks/*.csv`: the shell gives one file to
    -t and the rest as versions) is told to take its own -t."""
    from genekb.api import eval_versions
    from genekb.errors import GenekbError, UsageError

    try:
        return eval_versions(store, refs)
    except GenekbError:
        files = [r for r in refs or [] if Path(r).is_file()]
        if files:
            raise UsageError(
                f"{files[0]!r} is a file, not an embedding version: give each task file its own"
                " -t (-t a.csv -t b.csv; after one -t a shell pattern such as tasks/*.csv gives"
                " the other files as versions)"
            ) from None
        raise


_FileArg = Annotated[
    Path,
    typer.Argument(help="Gene vectors: .pkl, .csv, .tsv, .parquet, .npz, .json; - for stdin."),
]
_ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Name of the model that made the vectors.")
]
_TextOpt = Annotated[
    str,
    typer.Option(help="What text the vectors were made from (e.g. 'NCBI summaries')."),
]
_FormatOpt = Annotated[
    str | None,
    typer.Option(
        "--format", help="pickle, csv, tsv, parquet, npz or json (default: from suffix)."
    ),
]
_GeneColumnOpt = Annotated[
    str | None, typer.Option(help="Column of gene names in a table (default: guessed).")
]
_TemplateOpt = Annotated[
    str,
    typer.Option(help="Template of the matched genes' own text version (the BoW control)."),
]
_TagOpt = Annotated[str | None, typer.Option(help="Tag to set (default taxon/imported/MODEL).")]
_ForceOpt = Annotated[
    bool, typer.Option(help="Move the tag if it already points at another version.")
]


@handle_errors
def import_vectors(
    file: _FileArg,
    model: _ModelOpt,
    text: _TextOpt = "",
    format_: _FormatOpt = None,
    gene_column: _GeneColumnOpt = None,
    taxon: TaxonOpt = "human",
    template: _TemplateOpt = "ncbi-card",
    tag: _TagOpt = None,
    force: _ForceOpt = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Import another project's gene vectors as an embedding version, with provenance and the
    gene-mapping report. A pickle is read by a restricted unpickler (containers and arrays only)."""
    from genekb.store.foreign import import_vectors as run_import
    from genekb.store.store import Store

    store = Store.open(root, create=True)
    report = run_import(
        store,
        file,
        model=model,
        text=text,
        fmt=format_,
        gene_column=gene_column,
        taxon=taxon,
        template=template,
        tag=tag,
        force=force,
    )
    if json_:
        print_json(report)
    else:
        _import_summary(report)


def _import_summary(report: dict[str, Any]) -> None:
    """The import in a few lines on stderr: the version, the mapping by route, what did not map."""
    m = report["mapping"]
    routes = ", ".join(f"{k} {v}" for k, v in sorted(m["by_route"].items()))
    info(
        f"{report['tag']} -> {report['embedding_id']} (text {report['text_id']}): "
        f"{m['matched']} of {m['names']} genes matched ({routes}), dim {report['dim']}"
        + ("" if report["created"] else "; already present")
    )
    if m["unmatched"]:
        info(f"{m['unmatched']} unmatched, e.g. {', '.join(m['unmatched_examples'][:8])}")
    if m.get("unmatched_dates"):
        info(spreadsheet_date_note(m["unmatched_date_examples"], m["unmatched_dates"]))
    if m.get("unmatched_shared"):
        info(shared_name_note(m["unmatched_shared_examples"], m["unmatched_shared"]))
    if m["duplicates"]:
        info(f"{m['duplicates']} names reach a gene already matched, e.g. "
             f"{', '.join(m['duplicate_examples'][:5])}")  # fmt: skip
    if m.get("zero_vectors"):
        info(f"{m['zero_vectors']} vectors of zeros (no direction) left out, e.g. "
             f"{', '.join(m['zero_vector_examples'][:5])}")  # fmt: skip
