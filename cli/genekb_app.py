"""`genekb`: build, inspect, verify, query and share gene-knowledge embedding stores."""

from __future__ import annotations

from typing import Annotated, Any, NoReturn

import typer

from cli import exit_without_teardown
from cli.cellmodel_args import JsonOpt
from cli.common import handle_errors, info, make_app, out, print_json
from cli.genekb_args import MoveTagOpt, RootOpt, TaxonOpt, TemplateOpt
from cli.genekb_build_cmd import register as register_build
from cli.genekb_eval_cmd import register as register_eval
from cli.genekb_share_cmd import register as register_share
from cli.keys_cmd import register as register_keys
from cli.plain import PlainTable
from cli.remote_cmd import register as register_remote
from cli.store_manage_cmd import register as register_manage
from genekb.encoders import registry
from genekb.errors import GenekbError, UsageError
from genekb.templates import DEFAULT_TEMPLATE

app = make_app(
    "genekb",
    "Versioned, verifiable stores of NCBI gene knowledge embedded by language models.",
)
register_eval(app)
register_share(app)
register_remote(app)
register_keys(app)
register_build(app)
register_manage(app)

SQL_LIMIT = 100  # rows `genekb sql` prints unless told otherwise


def _store(root: str | None) -> Any:
    """The store at `root` (its module imported on use, as the commands import their library)."""
    from genekb.store.store import Store

    return Store.open(root)


@app.command("list")
@handle_errors
def list_(root: RootOpt = None, json_: JsonOpt = False) -> None:
    """List the versions and tags in a store."""
    from genekb.store.catalog import NEWER, version_rows

    rows = version_rows(_store(root))
    if json_:
        print_json({"versions": rows})
        return
    keys = ("id", "kind", "tags", "taxon", "template", "model", "dim", "n_genes", "created")
    table = PlainTable(*keys[:-2], "genes", "created", "status")
    for r in rows:
        shown = {**r, "tags": ",".join(r["tags"])}  # a list in --json, as `remote list` gives it
        table.add_row(*(str(shown[k] if shown[k] is not None else "") for k in (*keys, "status")))
    out.print(table)
    statuses = {r["status"] for r in rows}
    if statuses - {"ok", NEWER}:
        info("damaged versions are not used by any command; `genekb verify` names their files")
    if NEWER in statuses:  # not damage: "--replace-damaged" would put an older copy in its place
        info(
            "versions marked newer are from a newer genekb and are not used by this one; keep"
            " them and upgrade genekb (pip install -U genekb-cellmodel)"
        )


@app.command("info")
@handle_errors
def show_info(
    ref: Annotated[str, typer.Argument(help="Version id, unique id prefix, or tag.")],
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Show a version's manifest (refused if the version is damaged)."""
    version = _store(root).version(ref)
    version.check()
    if json_:
        print_json(version.manifest)
        return
    out.print_json(data=version.manifest)


@app.command()
@handle_errors
def verify(
    refs: Annotated[
        list[str] | None, typer.Argument(help="Versions or tags (default: all).")
    ] = None,
    all_: Annotated[
        bool, typer.Option("--all", help="Verify every version (the default).")
    ] = False,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Recompute every hash; exit 1 and name each bad file if anything does not match."""
    from genekb.store import catalog

    reports = _store(root).verify(None if all_ else refs, rewrite_catalog=catalog.rebuild)
    bad = [r for r in reports if not r["ok"]]
    if json_:
        print_json({"ok": not bad, "checked": len(reports), "versions": reports})
    else:
        for r in reports:
            info(f"{'ok ' if r['ok'] else 'BAD'} {r['kind']:9} {r['id']}")
            for problem in r["problems"]:
                info(f"    {problem}")
            for note in r.get("notes", []):
                info(f"    note: {note}")
        n_versions = sum(r["kind"] != "store" for r in reports)
        n_bad = sum(r["kind"] != "store" and not r["ok"] for r in reports)
        info(f"{n_versions - n_bad} of {n_versions} versions verify clean")
    if bad:
        raise typer.Exit(1)


@app.command()
@handle_errors
def sql(
    query: Annotated[str, typer.Argument(help="SQL over the views genes, embeddings, versions.")],
    limit: Annotated[
        int, typer.Option(min=0, help="Rows to print, table or --json (default 100).")
    ] = SQL_LIMIT,
    all_: Annotated[bool, typer.Option("--all", help="Print every row (no limit).")] = False,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Run read-only SQL (DuckDB) over the store's catalog; damaged versions are left out."""
    from genekb.store.catalog import query as run_query

    frame = run_query(_store(root), query, None if all_ else limit)
    truncated = bool(frame.attrs.get("truncated"))
    if json_:
        print_json(
            {
                "columns": list(frame.columns),
                "rows": frame.to_dict(orient="records"),
                "limit": None if all_ else limit,
                "truncated": truncated,
            }
        )
    else:
        table = PlainTable(*[str(c) for c in frame.columns])
        for row in frame.itertuples(index=False):
            table.add_row(*(str(v)[:60] for v in row))
        out.print(table)
    if truncated:
        info(f"showing the first {limit} rows; more exist (--limit N for more, --all for all)")


def _check_model(model: str, taxon: str, ref: str | None, root: str | None) -> None:
    """An encoder's name, or refused; the name an import was given (`import-vectors -m genept`
    tags human/imported/genept, no encoder) is told the --ref that reads it."""
    from genekb.build import check_model

    try:
        check_model(model)
    except UsageError:
        imported = f"{taxon}/imported/{model}"
        try:
            tags = _store(root).tags() if ref is None else {}
        except GenekbError:  # no store there: the unknown model is the first thing to say
            tags = {}
        if imported in tags:
            raise UsageError(
                f"{model!r} is no encoder but the model of vectors imported here; read them with"
                f" --ref {imported}"
            ) from None
        raise


@app.command()
@handle_errors
def similar(
    gene: Annotated[str, typer.Argument(help="Gene symbol, alias, Ensembl or Entrez id.")],
    model: Annotated[
        str,
        typer.Option(
            "--model", "-m", help="Encoder whose version to read: the tag taxon/template/model."
        ),
    ] = registry.DEFAULT_MODEL,
    k: Annotated[int, typer.Option("-k", min=1, help="Number of neighbours.")] = 10,
    ref: Annotated[
        str | None, typer.Option(help="Embedding id or tag (overrides the tag).")
    ] = None,
    taxon: TaxonOpt = "human",
    template: TemplateOpt = DEFAULT_TEMPLATE,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """The genes whose text vectors are nearest to GENE's."""
    from genekb.api import default_version
    from genekb.query import similar as run_similar

    _check_model(model, taxon, ref, root)
    store = _store(root)
    version = (
        store.embedding(ref) if ref is not None else default_version(store, model, taxon, template)
    )
    result = run_similar(version, gene, k)
    if json_:
        print_json(result)
        return
    table = PlainTable("rank", "symbol", "gene_id", "cosine", title=f"nearest to {result['query']}")
    for i, hit in enumerate(result["hits"], 1):
        table.add_row(str(i), hit["symbol"], str(hit["gene_id"]), f"{hit['score']:.3f}")
    out.print(table)


@app.command()
@handle_errors
def compare(
    refs: Annotated[list[str], typer.Argument(help="Two or more embedding ids or tags.")],
    k: Annotated[int, typer.Option("-k", min=1, help="Neighbours per gene.")] = 10,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Per pair of encoders, the share of each gene's k nearest genes they agree on."""
    from genekb.compare import compare as run_compare

    store = _store(root)
    versions = [store.embedding(r) for r in refs]
    if len({v.id for v in versions}) < len(versions):  # a version agrees with itself: says nothing
        raise UsageError("the same version is given twice (a tag and its id name one version)")
    rows = run_compare(versions, k)
    if json_:
        print_json({"pairs": rows})
        return
    table = PlainTable("model a", "model b", "genes", f"mean overlap@{k}", "chance")
    for r in rows:
        table.add_row(
            r["model_a"],
            r["model_b"],
            str(r["n_genes"]),
            f"{r['mean_overlap']:.3f}",
            f"{r['chance_overlap']:.3f}",
        )
    out.print(table)


@app.command()
@handle_errors
def combine(
    refs: Annotated[list[str], typer.Argument(help="Two or more views: embedding ids or tags.")],
    tag: Annotated[str | None, typer.Option(help="Tag to set.")] = None,
    force: MoveTagOpt = False,
    root: RootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """One multi-view version: the views' L2-normalised vectors side by side (nothing re-embedded;
    the first view sets the genes)."""
    from genekb.views import combine as run_combine

    report = run_combine(_store(root), refs, tag, force=force)
    print_json(report) if json_ else info(
        f"{report['tag']} -> {report['embedding_id']}: {report['n_genes']} genes, "
        f"dim {report['dim']}, {len(report['views'])} views"
    )


@app.command()
@handle_errors
def sources(json_: JsonOpt = False) -> None:
    """List the gene sources."""
    from genekb.sources import SOURCES

    rows = [
        {"name": s.name, "description": s.description, "options": list(s.options)}
        for s in SOURCES.values()
    ]
    if json_:
        print_json({"sources": rows})
        return
    table = PlainTable("name", "options", "description")
    for r in rows:
        table.add_row(r["name"], ", ".join(r["options"]), r["description"])
    out.print(table)


@app.command()
@handle_errors
def encoders(json_: JsonOpt = False) -> None:
    """List the registered encoders and whether each can load here now."""
    try:
        from genekb.encoders.listing import encoder_rows
    except ImportError:  # listing arrives with the multi-encoder backends
        rows = [
            {"name": s.name, "backend": s.backend, "dim": s.dim, "model_id": s.model_id}
            for s in registry.specs()
        ]
    else:
        rows = encoder_rows()
    if json_:
        print_json({"encoders": rows})
        return
    columns = [c for c in ("name", "backend", "dim", "loadable", "reason") if rows and c in rows[0]]
    table = PlainTable(*columns)
    for r in rows:
        table.add_row(*(str(r.get(c, "")) for c in columns))
    out.print(table)


def main() -> NoReturn:
    exit_without_teardown(app)


if __name__ == "__main__":
    main()
