"""`cellmodel bench`: the honest benchmark (a thin shell over `cellmodel.bench`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from cli.bench_annotate import DEFAULT_TIMEOUT, run_annotate
from cli.cellmodel_args import GeneKeyOpt, LayerOpt, RootOpt, refuse_unused
from cli.common import as_flags, handle_errors, info, print_json
from genekb.errors import GenekbError, UsageError
from genekb.output_paths import check_output_dir
from genekb.settings import MAX_SEEDS


def register(app: typer.Typer) -> None:
    """Add the `bench` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "bench" for c in app.registered_commands):
        app.command("bench")(bench)


def _sizes(spec: str, out_of_core: bool) -> list[int]:
    from cellmodel.bench.data import check_synthetic_cells

    try:
        sizes = [int(s.replace("_", "")) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--scale {spec!r} must be cell counts separated by commas") from None
    if not sizes or min(sizes) < 30:
        raise UsageError(f"--scale {spec!r} needs sizes of at least 30 cells")
    check_synthetic_cells(max(sizes), "--scale", out_of_core)
    return sorted(dict.fromkeys(sizes))


def _command(options: list[tuple[str, object]]) -> str:
    """The exact command line, rebuilt from the parsed options (stable under test runners)."""
    words = ["cellmodel", "bench"]
    for flag, value in options:
        if value is None or value is False:
            continue
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


_DatasetsOpt = Annotated[
    str | None,
    typer.Option(
        help="Comma-separated registry names, .h5ad / .h5 / .loom paths or synthetic-N"
        " (default: pbmc68k-reduced,baron-human,wu2020-200)."
    ),
]
_MethodsOpt = Annotated[
    str | None,
    typer.Option(help="Comma-separated method names, or 'all' (default: all)."),
]
_SeedsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        max=MAX_SEEDS,
        help="Seeds per (dataset, method): 0..N-1 (default 5; 1 with --scale).",
    ),
]
_OutOpt = Annotated[
    Path | None,
    typer.Option(help="Output folder (default: <root>/bench, or <root>/bench-scale)."),
]
_ModelOpt = Annotated[str, typer.Option("--model", "-m", help="Encoder of the store.")]
_LabelKeyOpt = Annotated[
    str | None,
    typer.Option(help="obs column of reference labels for file paths (Y in an X/Y .h5 file)."),
]
_BatchKeyOpt = Annotated[
    str | None,
    typer.Option(
        help="obs column of a technical batch for file paths (plate, donor), given to every"
        " method as a registry dataset's is."
    ),
]
_ScaleOpt = Annotated[
    str | None,
    typer.Option(
        help="Scale mode: synthetic counts at these sizes (e.g. 10000,30000,100000);"
        " methods default to cellmodel,pca-kmeans."
    ),
]
_OutOfCoreOpt = Annotated[
    bool,
    typer.Option(
        help="With --scale: write each size to disk, cluster it out of core in a fresh"
        " process (time, peak RSS, ARI vs the planted groups), and the largest file's first"
        " 100,000 cells in memory (e.g. --scale 100000,300000,1000000 --out-of-core)."
    ),
]
_DeviceOpt = Annotated[str | None, typer.Option(help="cpu or cuda (default: cuda if present).")]
_WarmOpt = Annotated[
    bool,
    typer.Option(help="Warm the store and sentence cache up front (reported apart)."),
]
_ThreadsOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="BLAS/OpenMP/torch threads per worker (default: the libraries' own choice).",
    ),
]
_TimeoutOpt = Annotated[
    float, typer.Option(min=1, help="Seconds allowed per (dataset, method) process.")
]
_GeneVectorsOpt = Annotated[
    str,
    typer.Option(
        help="real, or a control (shuffled / random, drawn once) that replaces the real gene"
        " vectors of every method."
    ),
]
_ForceOpt = Annotated[
    bool, typer.Option(help="Overwrite the tables and chart of an earlier run in --out.")
]
_JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
_TaskOpt = Annotated[
    str,
    typer.Option(
        help="cluster (methods × datasets × seeds), or annotate: name each labelled file's"
        " groups over the whole Cell Ontology and grade the calls exact / partial / wrong"
        " (wrong lineage apart), beside shuffled and random gene vectors (--seeds draws of"
        " each, default 2)."
    ),
]
_OntologyKeyOpt = Annotated[
    str | None,
    typer.Option(
        help="With --task annotate: obs column of the labels' Cell Ontology ids (default: one"
        " found in obs, else the labels read as CL terms)."
    ),
]
_LabelMapOpt = Annotated[
    Path | None,
    typer.Option(
        help="With --task annotate: a CSV or TSV of label,CL id lines giving each label's"
        " Cell Ontology term."
    ),
]


@handle_errors
def bench(
    datasets: _DatasetsOpt = None,
    methods: _MethodsOpt = None,
    seeds: _SeedsOpt = None,
    out: _OutOpt = None,
    root: RootOpt = None,
    model: _ModelOpt = "minilm",
    label_key: _LabelKeyOpt = None,
    batch_key: _BatchKeyOpt = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    scale: _ScaleOpt = None,
    out_of_core: _OutOfCoreOpt = False,
    device: _DeviceOpt = None,
    warm: _WarmOpt = True,
    threads: _ThreadsOpt = None,
    timeout: _TimeoutOpt = DEFAULT_TIMEOUT,
    gene_vectors: _GeneVectorsOpt = "real",
    force: _ForceOpt = False,
    json_: _JsonOpt = False,
    task: _TaskOpt = "cluster",
    ontology_key: _OntologyKeyOpt = None,
    label_map: _LabelMapOpt = None,
) -> None:
    """Benchmark methods × datasets × seeds in fresh processes: tables, JSON, ARI chart; or
    (--task annotate) grade naming over the whole Cell Ontology on labelled files."""
    from cellmodel.datasets import store_root

    args = SimpleNamespace(**locals())
    if _annotate_task(args):
        return None
    sizes = _check(args)
    if out_of_core:
        return _out_of_core(sizes, out or store_root(root) / "bench-outofcore", device, timeout)
    _run(_config(args, sizes), json_)


def _annotate_task(args: SimpleNamespace) -> bool:
    """Run --task annotate (True), or refuse its options on a clustering run (False)."""
    if args.task == "annotate":
        run_annotate(args, lambda out: _command_of(args, out))
        return True
    if args.task != "cluster":
        raise UsageError(f"unknown --task {args.task!r}; choose cluster, annotate")
    given = {"--ontology-key": args.ontology_key, "--label-map": args.label_map}
    refuse_unused(
        {flag: value is not None for flag, value in given.items()},
        "--task annotate's truth", "this clustering run leaves out", "add --task annotate",
    )  # fmt: skip
    return False


def _check(args: SimpleNamespace) -> list[int] | None:
    """Refuse an unknown control and --scale beside --datasets; the --scale sizes, if given."""
    if args.gene_vectors not in ("real", "shuffled", "random"):
        raise UsageError(
            f"unknown --gene-vectors {args.gene_vectors!r}; choose real, shuffled, random"
        )
    if args.scale is not None and args.datasets is not None:
        raise UsageError("--scale makes its own synthetic datasets; leave out --datasets")
    if args.out_of_core:
        refuse_unused(
            _in_process_flags(args), "the bench's method runs", _OUT_OF_CORE, "--out-of-core"
        )
    return _sizes(args.scale, args.out_of_core) if args.scale is not None else None


_OUT_OF_CORE = "--out-of-core replaces with one out-of-core cluster per size"


def _in_process_flags(a: SimpleNamespace) -> dict[str, bool]:
    """The options of the methods × datasets × seeds run, set or not: --out-of-core reads only
    --scale, --out, --root, --device and --timeout."""
    return {
        "--methods": a.methods is not None,
        "--seeds": a.seeds is not None,
        "--model": a.model != "minilm",
        "--label-key": a.label_key is not None,
        "--batch-key": a.batch_key is not None,
        "--gene-key": a.gene_key is not None,
        "--layer": a.layer is not None,
        "--no-warm": not a.warm,
        "--threads": a.threads is not None,
        "--gene-vectors": a.gene_vectors != "real",
        "--force": a.force,
        "--json": a.json_,
    }


def _config(args: SimpleNamespace, sizes: list[int] | None) -> Any:
    """The run's BenchConfig: datasets, methods and seeds resolved, --out checked."""
    from cellmodel import bench as lib
    from cellmodel.datasets import store_root

    a = args
    refs = lib.parse_datasets(
        [f"{lib.SYNTHETIC_PREFIX}{n}" for n in sizes] if sizes else a.datasets,
        a.label_key,
        a.batch_key,
    )
    method_names = lib.parse_methods(
        a.methods if a.methods is not None else (",".join(lib.SCALE_METHODS) if sizes else None)
    )
    n_seeds = a.seeds if a.seeds is not None else (1 if sizes else lib.DEFAULT_SEEDS)
    given = a.out is not None  # a default folder under the store root may need its parents made
    out = a.out or store_root(a.root) / ("bench-scale" if sizes else "bench")
    check_output_dir(out, force=a.force, flag="--out", files=lib.BENCH_FILES, parents=not given)
    return lib.BenchConfig(
        datasets=refs,
        methods=method_names,
        seeds=list(range(n_seeds)),
        out=out,
        root=str(a.root) if a.root else None,
        model=a.model,
        device=a.device,
        layer=a.layer,
        gene_key=a.gene_key,
        timeout_s=a.timeout,
        warm=a.warm,
        command=_command_of(a, out),
        scale=sizes is not None,
        threads=a.threads,
        gene_vectors=a.gene_vectors,
        force=a.force,
    )


def _command_of(a: SimpleNamespace, out: Path) -> str:
    """The command line that repeats this run (only the options given, --out resolved)."""
    return _command(
        [
            ("--task", a.task if a.task != "cluster" else None),
            ("--datasets", a.datasets),
            ("--scale", a.scale),
            ("--methods", a.methods),
            ("--seeds", a.seeds),
            ("--out", out),
            ("--root", a.root),
            ("--model", a.model if a.model != "minilm" else None),
            ("--label-key", a.label_key),
            ("--batch-key", a.batch_key),
            ("--gene-key", a.gene_key),
            ("--layer", a.layer),
            ("--device", a.device),
            ("--threads", a.threads),
            ("--no-warm", not a.warm),
            ("--gene-vectors", a.gene_vectors if a.gene_vectors != "real" else None),
            ("--ontology-key", a.ontology_key),
            ("--label-map", a.label_map),
        ]
    )


def _log(line: str) -> None:
    """A progress line of the library's (a run's error in it too) in the command line's terms."""
    info(as_flags(line))


def _run(config: Any, json_: bool) -> None:
    """Run the bench; the Markdown table (or JSON) on stdout, any failure as one error."""
    from cellmodel import bench as lib

    report = lib.run_bench(config, log=_log)
    if json_:
        print_json(report)
    else:
        sys.stdout.write(Path(report["files"]["markdown"]).read_text(encoding="utf-8"))
    info(f"wrote {', '.join(report['files'].values())}")
    if report["failures"]:
        first = report["failures"][0]
        raise GenekbError(
            f"{len(report['failures'])} run(s) failed, first {first['dataset']} × {first['method']}"
            f": {first['error']}; logs in {config.out / 'logs'}"
        )


def _out_of_core(sizes: list[int] | None, out: Path, device: str | None, timeout: float) -> None:
    from cellmodel.bench.outofcore import run_scale

    if sizes is None:
        raise UsageError("--out-of-core goes with --scale SIZES")
    results = run_scale(sizes, out, device=device, timeout_s=timeout, log=_log, flag="--out")
    failed = [r for r in results if r["status"] != "ok"]
    info(f"results appended to {out / 'outofcore.jsonl'}")
    if failed:
        raise GenekbError(f"{len(failed)} run(s) failed, first: {failed[0]['error']}")
