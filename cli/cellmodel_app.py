"""`cellmodel`: semantic views, clustering and classification of cells from a genekb store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any, NoReturn

import typer

from cli import exit_without_teardown
from cli.annotate_cmd import register as register_annotate
from cli.bench_cmd import register as register_bench
from cli.cellmodel_args import (
    AllGenesOpt,
    BuildOpt,
    ChunkSizeOpt,
    DaskAddressOpt,
    ForceOpt,
    GeneKeyOpt,
    GeneVectorsOpt,
    InputArg,
    JsonOpt,
    LayerOpt,
    ModelOpt,
    OrientationOpt,
    OutputOpt,
    RootOpt,
    SepOpt,
    TaxonOpt,
    WorkersOpt,
    check_chunked,
    check_dask_options,
    check_obs_keys,
    check_output,
    check_store_model,
    load_input,
    refuse_unused,
    run_progress,
    seed_option,
    write_h5ad,
)
from cli.classify_cmd import register as register_classify
from cli.cluster_cmd import register as register_cluster
from cli.common import handle_errors, info, make_app, out, print_json
from cli.datasets_cmd import register as register_datasets
from cli.flags import as_flags
from genekb.errors import GenekbError
from genekb.fileio import is_stdin

app = make_app(
    "cellmodel",
    "Cluster and classify single cells with gene knowledge from a genekb store.",
)


_ControlSeedOpt = seed_option("Seed of the controls.")


@app.command()
@handle_errors
def embed(
    source: InputArg,
    output: OutputOpt = None,
    root: RootOpt = None,
    model: ModelOpt = "minilm",
    taxon: TaxonOpt = None,
    gene_key: GeneKeyOpt = None,
    layer: LayerOpt = None,
    orientation: OrientationOpt = "auto",
    sep: SepOpt = None,
    gene_vectors: GeneVectorsOpt = "real",
    seed: _ControlSeedOpt = 0,
    build: BuildOpt = True,
    all_genes: AllGenesOpt = False,
    chunk_size: ChunkSizeOpt = None,
    dask_address: DaskAddressOpt = None,
    workers: WorkersOpt = None,
    force: ForceOpt = False,
    json_: JsonOpt = False,
) -> None:
    """The dual-path semantic view of each cell: obsm X_semantic_w, X_semantic_s, X_semantic."""
    check_output(output, force)
    check_dask_options(chunk_size, dask_address, workers)
    check_store_model(root, model)  # a missing tag or id: refused before the data is read
    if gene_vectors == "real":
        controls = "the controls (--gene-vectors shuffled / random)"
        refuse_unused({"--seed": seed != 0}, controls, "--gene-vectors real has none of", "add one")
    args = SimpleNamespace(**locals())
    if chunk_size is not None:
        _embed_chunked(args)
    else:
        _embed_in_memory(args)


def _embed_settings(args: SimpleNamespace) -> dict[str, Any]:
    """What `embed` and `embed_h5ad` both take from the command line."""
    names = ("model", "taxon", "gene_key", "layer", "gene_vectors", "seed", "all_genes")
    return {
        **{name: getattr(args, name) for name in names},
        "build_missing": args.build,
        "progress": run_progress(),
        "notify": info,
    }


def _embed_chunked(args: SimpleNamespace) -> None:
    from cellmodel.chunked import embed_h5ad
    from genekb.store.store import Store

    path = check_chunked(args.source, args.output, "obsm", args.orientation, args.sep)
    record = embed_h5ad(
        path,
        Store.open(args.root, create=True),
        output=args.output,
        chunk_size=args.chunk_size,
        dask_address=args.dask_address,
        workers=args.workers,
        **_embed_settings(args),
    )
    n, dim = record["input"]["n_cells"], record["dim"]
    shapes = {"X_semantic_w": [n, dim], "X_semantic": [n, dim]}
    _embed_report(record, args.output, n, shapes, args.json_)


def _embed_in_memory(args: SimpleNamespace) -> None:
    from cellmodel.embed import embed as run_embed
    from genekb.store.store import Store

    adata, _ = load_input(args.source, args.root, args.orientation, args.sep)
    store = Store.open(args.root, create=True)
    run_embed(adata, store, **_embed_settings(args))
    if args.output is not None:
        write_h5ad(adata, args.output)
    shapes = {
        k: list(adata.obsm[k].shape)
        for k in ("X_semantic_w", "X_semantic_s", "X_semantic")
        if k in adata.obsm
    }
    # uns keeps what an earlier out-of-core run wrote beside this run's record: its "chunked"
    # entry read as this in-memory run's.
    record = {k: v for k, v in adata.uns["cellmodel"].items() if k != "chunked"}
    _embed_report(record, args.output, adata.n_obs, shapes, args.json_)


def _embed_report(
    record: dict[str, Any], output: Path | None, n_cells: int, shapes: dict, json_: bool
) -> None:
    report = {
        "output": str(output) if output else None,
        "n_cells": n_cells,
        "embedding_id": record["embedding_id"],
        "tag": record.get("tag"),
        "gene_match_rate": record["gene_match"]["match_rate"],
        "input_kind": record["input"]["kind"],
        "obsm": shapes,
        "params": record["params"],
        "timings_s": record["timings_s"],
        **({"chunked": record["chunked"]} if "chunked" in record else {}),
    }
    # Each was said on stderr when the genes were matched (a GenekbWarning): here for --json.
    # In the command line's terms, as on stderr: the record keeps the library's ("layer=").
    report["warnings"] = [as_flags(str(w)) for w in record["gene_match"].get("warnings") or []]
    if json_:
        print_json(report)
        return
    views = ", ".join(f"{k} ({' × '.join(map(str, v))})" for k, v in shapes.items())
    rate = report["gene_match_rate"]
    info(
        f"semantic view of {n_cells} cells: {views or 'none'}; {rate:.1%} of genes matched"
        f" {report['embedding_id']}" + (f"; wrote {output}" if output else "")
    )


register_cluster(app)  # here: `cellmodel --help` lists the commands in this order


@app.command()
@handle_errors
def explain(
    source: Annotated[Path, typer.Argument(help="An .h5ad written by `cellmodel cluster -o`.")],
    root: RootOpt = None,
    top: Annotated[int, typer.Option("--top", "-n", min=1, help="Genes per list.")] = 10,
    cluster_key: Annotated[
        str, typer.Option(help="obs column of the clusters.")
    ] = "cellmodel_cluster",
    json_: JsonOpt = False,
) -> None:
    """Explain clusters: semantic contributor genes, markers, and their descriptions."""
    from cellmodel import io
    from cellmodel.explain import explain as run_explain
    from cellmodel.explain import store_of, to_markdown

    if is_stdin(source):
        raise GenekbError("explain reads an .h5ad file by its path, not from - (stdin)")
    if not source.exists():
        raise GenekbError(f"{source} does not exist; write one with `cellmodel cluster IN -o FILE`")
    # Before the whole file is read; the default's absence gets the library's own advice.
    named = cluster_key if cluster_key != "cellmodel_cluster" else None
    check_obs_keys(source, {"cluster_key": named})
    adata = io.read(source)
    store = store_of(adata, root)
    report = run_explain(adata, store, cluster_key=cluster_key, top_n=top)
    if store is None:
        info(  # the file may never have been clustered: --cluster-key names any grouping
            "no semantic view in this file (clustered with --no-semantic, or neither clustered"
            " nor embedded by cellmodel): markers only, described from the bundled gene snapshot"
        )
    if json_:
        print_json(report)
        return
    out.print(to_markdown(report), markup=False, highlight=False, soft_wrap=True)


register_classify(app)
register_annotate(app)
register_bench(app)
register_datasets(app)


def main() -> NoReturn:
    exit_without_teardown(app)


if __name__ == "__main__":
    main()
