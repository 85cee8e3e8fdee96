"""`genekb publish`, `pull` and `remote ls`: thin shells over `genekb.store.publish`,
`genekb.store.pull` and `genekb.store.remote`, for sharing a store through a URL."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cli.cellmodel_args import JsonOpt, StoreRootOpt
from cli.common import OneLineUsageGroup, add_commands, err, handle_errors, info, out, print_json
from cli.keys_cmd import PassphraseEnvOpt, key_passphrase
from cli.plain import PlainTable
from cli.progress import PROGRESS_SECONDS
from genekb.errors import UsageError
from genekb.store.remote_io import RETRIES
from genekb.store.store import Store

TimeoutOpt = Annotated[
    float, typer.Option(min=0.1, help="Seconds to wait for the remote before retrying.")
]
RetriesOpt = Annotated[int, typer.Option(min=0, help="Retries per request, with backoff.")]
ForceOpt = Annotated[bool, typer.Option(help="Let these tags move tags that point elsewhere.")]
PublishDestArg = Annotated[
    str, typer.Argument(help="A folder or fsspec URL (file://, s3://, gs://…).")
]
PublishRefsArg = Annotated[
    list[str] | None, typer.Argument(help="Tags or version ids (default: every version).")
]
PublishForceOpt = Annotated[
    bool,
    typer.Option(
        help="Let these tags move tags the remote points elsewhere, and replace a remote"
        " index this genekb cannot read (damaged, or a newer genekb's)."
    ),
]
SignOpt = Annotated[
    Path | None,
    typer.Option(
        help="A key file (`genekb keys new`): sign the index, so that `pull --trust` with"
        " its .pub accepts it. Without it, an earlier signature is deleted."
    ),
]
PullUrlArg = Annotated[str, typer.Argument(help="A published store: http(s)://, s3://, a folder…")]
PullRefsArg = Annotated[
    list[str] | None, typer.Argument(help="Remote tags or version ids (default: all).")
]
ExpectOpt = Annotated[
    str | None,
    typer.Option(
        help="Content sha256 (or 12+ digit prefix) the publisher announced; refused"
        " unless the pulled embedding holds that content."
    ),
]
TrustOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="A publisher's public key (a .pub file, or its `genekb-ed25519 …` line); refused"
        " unless that key signed the remote's index. Give it again for more keys."
    ),
]
ClearCacheOpt = Annotated[
    bool,
    typer.Option(
        help="First drop the partial downloads an interrupted pull left in this store"
        " (every pull's), and fetch afresh."
    ),
]


def register(app: typer.Typer) -> None:
    """Add `publish`, `pull` and the `remote` group to the genekb app (once)."""
    add_commands(app, {"publish": publish, "pull": pull})
    if "remote" not in {g.name for g in app.registered_groups}:
        group = typer.Typer(
            help="Inspect a published store.", no_args_is_help=True, cls=OneLineUsageGroup
        )
        group.command("ls")(remote_ls)
        app.add_typer(group, name="remote")


@contextlib.contextmanager
def byte_progress(label: str) -> Iterator[Callable[[int], Callable[[int], None]]]:
    """A factory (total bytes -> per-chunk callback): a bar with bytes and rate in a terminal,
    a line every ~10 s elsewhere (logs, pipes)."""
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
        TransferSpeedColumn(), console=err, transient=True, disable=not err.is_terminal,
    )  # fmt: skip

    def factory(total: int) -> Callable[[int], None]:
        if err.is_terminal:
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)
        start = last = time.monotonic()
        done = 0

        def advance(n: int) -> None:  # no closing line: the command's summary says it
            nonlocal last, done
            done += n
            now = time.monotonic()
            if now - last >= PROGRESS_SECONDS:
                last = now
                rate = done / max(now - start, 1e-9) / 1e6
                info(f"{label}: {done / 1e6:,.1f} of {total / 1e6:,.1f} MB, {rate:,.1f} MB/s")

        return advance

    with bar:
        yield factory


@handle_errors
def publish(
    dest: PublishDestArg,
    refs: PublishRefsArg = None,
    force: PublishForceOpt = False,
    timeout: TimeoutOpt = 30.0,
    retries: RetriesOpt = RETRIES,
    sign: SignOpt = None,
    passphrase_env: PassphraseEnvOpt = None,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Publish versions (with their text versions and tags) as a static store others pull from;
    only files the remote lacks are uploaded, and the index is written last."""
    from genekb.store.publish import publish as run_publish

    if passphrase_env is not None and sign is None:
        raise UsageError("--passphrase-env is the passphrase of --sign's key; give --sign KEY")
    report = run_publish(
        Store.open(root), dest, refs or [], force=force, timeout=timeout, retries=retries,
        sign=sign, passphrase=key_passphrase(passphrase_env) if sign is not None else None,
    )  # fmt: skip
    if json_:
        print_json(report)
        return
    for note in report["notes"]:
        info(f"note: {note}")
    info(_published(report))


def _published(report: dict) -> str:
    """The one summary line of a publish."""
    return (
        f"published {len(report['versions'])} versions to {report['remote']}: uploaded "
        f"{report['files_uploaded']} files ({report['bytes_uploaded']:,} bytes), "
        f"{report['files_skipped']} already there; tags {report['tags'] or 'none'}"
        + (f"; index signed by key {report['signed_by']}" if report["signed_by"] else "")
    )


@handle_errors
def pull(
    url: PullUrlArg,
    refs: PullRefsArg = None,
    expect: ExpectOpt = None,
    force: ForceOpt = False,
    trust: TrustOpt = None,
    timeout: TimeoutOpt = 30.0,
    retries: RetriesOpt = RETRIES,
    clear_cache: ClearCacheOpt = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Fetch the versions a remote holds and this store lacks: each file's sha256 and each
    version's content checked before any becomes visible; an interrupted pull resumes."""
    from genekb.store import catalog
    from genekb.store.pull import pull as run_pull
    from genekb.store.pull_cache import clear_cache as drop_downloads

    store = Store.open(root, create=True)
    if clear_cache:
        drop_downloads(store)
    with byte_progress("pull") as progress:
        report = run_pull(store, url, refs or [], expect=expect, force=force, timeout=timeout,
                          retries=retries, progress=progress, trust=trust)  # fmt: skip
    catalog.rebuild(store)
    if report["signed_by"] and not report["trusted"]:
        info(f"index signed by key {report['signed_by']}; pass --trust to require it")
    if json_:
        print_json(report)
        return
    info(_pulled(report))


def _pulled(report: dict) -> str:
    """The one summary line of a pull."""
    return (
        f"pulled {report['fetched'] or 'nothing new'} ({report['files_fetched']} files, "
        f"{report['bytes_fetched']:,} bytes, {report['files_reused']} resumed from an earlier "
        f"try); present {report['already_present'] or 'none'}; tags {report['tags'] or 'none'}"
        + (f"; replaced damaged copies of {report['repaired']}" if report["repaired"] else "")
    )


@handle_errors
def remote_ls(
    url: Annotated[str, typer.Argument(help="A published store's URL or folder.")],
    timeout: TimeoutOpt = 30.0,
    json_: JsonOpt = False,
) -> None:
    """List what a remote holds (versions, tags, encoders, genes, content ids), from its index."""
    from genekb.store.remote import remote_listing

    listing = remote_listing(url, timeout)
    if json_:
        print_json(listing)
        return
    signed = f", signed by key {listing['signed_by']}" if listing["signed_by"] else ""
    title = f"{listing['remote']} (published {listing['published']}{signed})"  # text, not markup
    table = PlainTable("id", "kind", "tags", "model", "dim", "genes", "bytes", "content sha256",
                  title=title)  # fmt: skip
    for v in listing["versions"]:
        table.add_row(
            v["id"], v["kind"], ",".join(v["tags"]), v["model"] or "", str(v["dim"] or ""),
            str(v["n_genes"]), f"{v['bytes']:,}", v["content_sha256"][:16] + "…",
        )  # fmt: skip
    out.print(table)
