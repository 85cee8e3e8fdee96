"""`cellmodel bench`: the honest benchmark (a thin shell over `cellmodel.bench`)."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.cellmodel_args import GeneKeyOpt, LayerOpt, RootOpt
from cli.common import handle_errors, info, print_json
from genekb.errors import GenekbError, UsageError
from genekb.fileio import check_output_dir

BENCH_FILES = ("bench.json", "bench.md", "ari.png")  # what a run writes into --out


def register(app: typer.Typer) -> None:
    """Add the `bench` command to the cellmodel app (once, however often it is called)."""
    if not any(c.name == "bench" for c in app.registered_commands):
        app.command("bench")(bench)


def _sizes(spec: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in spec.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--scale {spec!r} must be cell counts separated by commas") from None
    if not sizes or min(sizes) < 30:
        raise UsageError(f"--scale {spec!r} needs sizes of at least 30 cells")
    return sorted(dict.fromkeys(sizes))


def _command(options: list[tuple[str, object]]) -> str:
    """The exact command line, rebuilt from the parsed options (stable under test runners)."""
    words = ["cellmodel", "bench"]
    for flag, value in options:
        if value is None or value is False:
            continue
        words += [flag] if value is True else [flag, str(value)]
    return shlex.join(words)


@handle_errors
def bench(
    datasets: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated registry names, .h5ad paths or synthetic-N"
            " (default: pbmc68k-reduced,baron-human,wu2020-200)."
        ),
    ] = None,
    methods: Annotated[
        str | None,
        typer.Option(help="Comma-separated method names, or 'all' (default: all)."),
    ] = None,
    seeds: Annotated[
        int | None,
        typer.Option(
            min=1, help="Seeds per (dataset, method): 0..N-1 (default 5; 1 with --scale)."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Output folder (default: <root>/bench, or <root>/bench-scale)."),
    ] = None,
    root: RootOpt = None,
    model: Annotated[str, typer.Option("--model", "-m", help="Encoder of the store.")] = "minilm",
    label_key: Annotated[
        str | None, typer.Option(help="obs column of reference labels for .h5ad paths.")
    ] = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    scale: Annotated[
        str | None,
        typer.Option(
            help="Scale mode: synthetic counts at these sizes (e.g. 10000,30000,100000);"
            " methods default to cellmodel,pca-kmeans."
        ),
    ] = None,
    out_of_core: Annotated[
        bool,
        typer.Option(
            help="With --scale: write each size to disk, cluster it out of core in a fresh"
            " process (time, peak RSS, ARI vs the planted groups), and the largest file's first"
            " 100,000 cells in memory (e.g. --scale 100000,300000,1000000 --out-of-core)."
        ),
    ] = False,
    device: Annotated[
        str | None, typer.Option(help="cpu or cuda (default: cuda if present).")
    ] = None,
    warm: Annotated[
        bool,
        typer.Option(help="Warm the store and sentence cache up front (reported apart)."),
    ] = True,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="BLAS/OpenMP/torch threads per worker (default: the libraries' own choice).",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds allowed per (dataset, method) process.")
    ] = 3600.0,
    gene_vectors: Annotated[
        str,
        typer.Option(
            help="real, or a control (shuffled / random, drawn once) that replaces the real gene"
            " vectors of every method."
        ),
    ] = "real",
    force: Annotated[
        bool, typer.Option(help="Overwrite the tables and chart of an earlier run in --out.")
    ] = False,
    json_: Annotated[
        bool, typer.Option("--json", help="Print one JSON document on stdout.")
    ] = False,
) -> None:
    """Benchmark methods × datasets × seeds in fresh processes: tables, JSON, ARI chart."""
    from cellmodel import bench as lib
    from cellmodel.datasets import store_root

    if gene_vectors not in ("real", "shuffled", "random"):
        raise UsageError(f"unknown --gene-vectors {gene_vectors!r}; choose real, shuffled, random")
    if scale is not None and datasets is not None:
        raise UsageError("--scale makes its own synthetic datasets; leave out --datasets")
    sizes = _sizes(scale) if scale is not None else None
    if out_of_core:
        _out_of_core(sizes, out or store_root(root) / "bench-outofcore", device, timeout)
        return
    refs = lib.parse_datasets(
        [f"{lib.SYNTHETIC_PREFIX}{n}" for n in sizes] if sizes else datasets, label_key
    )
    method_names = lib.parse_methods(
        methods if methods is not None else (",".join(lib.SCALE_METHODS) if sizes else None)
    )
    n_seeds = seeds if seeds is not None else (1 if sizes else lib.DEFAULT_SEEDS)
    given = out is not None  # a default folder under the store root may need its parents made
    out = out or store_root(root) / ("bench-scale" if sizes else "bench")
    check_output_dir(out, force=force, flag="--out", files=BENCH_FILES, parents=not given)
    command = _command(
        [
            ("--datasets", datasets),
            ("--scale", scale),
            ("--methods", methods),
            ("--seeds", seeds),
            ("--out", out),
            ("--root", root),
            ("--model", model if model != "minilm" else None),
            ("--label-key", label_key),
            ("--gene-key", gene_key),
            ("--layer", layer),
            ("--device", device),
            ("--threads", threads),
            ("--no-warm", not warm),
            ("--gene-vectors", gene_vectors if gene_vectors != "real" else None),
        ]
    )
    config = lib.BenchConfig(
        datasets=refs,
        methods=method_names,
        seeds=list(range(n_seeds)),
        out=out,
        root=str(root) if root else None,
        model=model,
        device=device,
        layer=layer,
        gene_key=gene_key,
        timeout_s=timeout,
        warm=warm,
        command=command,
        scale=sizes is not None,
        threads=threads,
        gene_vectors=gene_vectors,
    )
    info(
        f"bench: {len(refs)} dataset(s) × {len(method_names)} method(s) × {n_seeds} seed(s),"
        f" each (dataset, method) in a fresh process; outputs in {out}"
    )
    report = lib.run_bench(config, log=info)
    if json_:
        print_json(report)
    else:
        sys.stdout.write(Path(report["files"]["markdown"]).read_text())
    info(f"wrote {', '.join(report['files'].values())}")
    if report["failures"]:
        first = report["failures"][0]
        raise GenekbError(
            f"{len(report['failures'])} run(s) failed, first {first['dataset']} × {first['method']}"
            f": {first['error']}; logs in {out / 'logs'}"
        )


def _out_of_core(sizes: list[int] | None, out: Path, device: str | None, timeout: float) -> None:
    from cellmodel.bench.outofcore import run_scale

    if sizes is None:
        raise UsageError("--out-of-core goes with --scale SIZES")
    results = run_scale(sizes, out, device=device, timeout_s=timeout, log=info)
    failed = [r for r in results if r["status"] != "ok"]
    info(f"results appended to {out / 'outofcore.jsonl'}")
    if failed:
        raise GenekbError(f"{len(failed)} run(s) failed, first: {failed[0]['error']}")
