"""`genekb tag`, `rm` and `gc`: thin shells over `genekb.store.tag_edits` and
`genekb.store.removal`, for managing what a local store holds and what its tags point at."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from cli.cellmodel_args import JsonOpt, StoreRootOpt
from cli.common import add_commands, handle_errors, info, out, print_json
from cli.plain import PlainTable
from genekb.errors import UsageError, listed
from genekb.store.store import Store

DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print what would be removed; remove nothing.")
]


def register(app: typer.Typer) -> None:
    """Add `tag`, `rm` and `gc` to the genekb app (once, however often called)."""
    add_commands(app, {"tag": tag, "rm": rm, "gc": gc})


@handle_errors
def tag(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="The tag (none: list the tags).")
    ] = None,
    version: Annotated[
        str | None,
        typer.Argument(metavar="VERSION", help="Embedding version: id, unique id prefix or tag."),
    ] = None,
    delete: Annotated[
        bool, typer.Option("--delete", help="Delete tag NAME (its version stays).")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Move the tag if it points at another version, or let a tag named for one"
            " species (human/…) point at another's version.",
        ),
    ] = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Point tag NAME at an embedding version, delete it (--delete), or list the tags."""
    from genekb.store.tag_edits import delete_tag, point_tag

    if delete and (version is not None or force or name is None):
        raise UsageError("give `genekb tag --delete NAME`: one tag, no version, no --force")
    if name is None and force:
        raise UsageError("--force moves a tag: give `genekb tag NAME VERSION --force`")
    if name is not None and version is None and not delete:
        raise UsageError(f"give the version to point {name!r} at, or --delete to remove the tag")
    if name is None:
        return _list_tags(Store.open(root), json_)
    store = Store.open(root)
    if delete:
        report = delete_tag(store, name)
        was = report["embedding_id"]
        return print_json(report) if json_ else info(f"deleted tag {_shown(name)} (was {was})")
    report = point_tag(store, name, version or "", force=force)
    was = report["previous"]
    moved = f" (was {was})" if was not in (None, report["embedding_id"]) else ""
    print_json(report) if json_ else info(f"{name} -> {report['embedding_id']}{moved}")


def _shown(name: str) -> str:
    """A tag as printed: quoted where it holds a newline or other control character (a name an
    older genekb or a hand let in, which `tag --delete` removes), so each message stays a line."""
    return name if name.isprintable() else repr(name)


def _list_tags(store: Store, json_: bool) -> None:
    tags = store.tags()
    if json_:
        return print_json({"tags": tags})
    if not tags:
        return info("no tags; `genekb tag NAME VERSION` sets one (`genekb list` shows versions)")
    table = PlainTable("tag", "embedding")
    for name, vid in sorted(tags.items()):
        table.add_row(_shown(name), vid)
    out.print(table)


@handle_errors
def rm(
    versions: Annotated[
        list[str],
        typer.Argument(metavar="VERSION", help="Versions: ids, unique id prefixes or tags."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Also delete the tags that point at them.")
    ] = False,
    dry_run: DryRunOpt = False,
    root: StoreRootOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Remove versions and free their disk; refused while a tag points at one (unless --force)
    or another version rests on one."""
    from genekb.store.removal import remove

    report = remove(Store.open(root), versions, force=force, dry_run=dry_run)
    if json_:
        return print_json(report)
    for tag_name, vid in report["tags_removed"].items():
        info(f"{'would delete' if dry_run else 'deleted'} tag {_shown(tag_name)} (-> {vid})")
    _say_removed(report)


@handle_errors
def gc(dry_run: DryRunOpt = False, root: StoreRootOpt = None, json_: JsonOpt = False) -> None:
    """Remove what nothing needs: text versions no embedding version rests on, leftovers of
    writers that no longer run. Embedding versions stay (`genekb rm` removes them)."""
    from genekb.store.removal import collect_garbage

    report = collect_garbage(Store.open(root), dry_run=dry_run)
    if json_:
        return print_json(report)
    _say_removed(report)
    for note in report["notes"]:
        info(f"note: {note}")
    if report["untagged"]:
        info(f"kept {len(report['untagged'])} embedding version(s) no tag points at:"
             f" {listed(report['untagged'], 5)} (`genekb rm ID…` removes one)")  # fmt: skip


def _say_removed(report: dict[str, Any]) -> None:
    verb = "would remove" if report["dry_run"] else "removed"
    for entry in report["removed"]:
        what = f"{entry['kind']} {entry['id']}" if entry["id"] else entry["path"]
        info(f"{verb} {what} ({entry['bytes']:,} bytes)")
    freed = "would free" if report["dry_run"] else "freed"
    info(f"{freed} {report['bytes_freed']:,} bytes" if report["removed"] else "nothing to remove")
