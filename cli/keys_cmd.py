"""`genekb keys new | show`: a publisher's signing key (`genekb.store.signing`), which
`publish --sign` uses and `pull --trust` checks."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.cellmodel_args import JsonOpt
from cli.common import OneLineUsageGroup, handle_errors, info, print_json


def register(app: typer.Typer) -> None:
    """Add the `keys` group to the genekb app (once)."""
    if "keys" in {g.name for g in app.registered_groups}:
        return
    group = typer.Typer(
        help="Signing keys: publish --sign KEY, pull --trust KEY.pub.",
        no_args_is_help=True,
        cls=OneLineUsageGroup,
    )
    group.command("new")(keys_new)
    group.command("show")(keys_show)
    app.add_typer(group, name="keys")


@handle_errors
def keys_new(
    out: Annotated[
        Path, typer.Option("--out", help="The private key file; its public key goes to OUT.pub.")
    ],
    force: Annotated[bool, typer.Option(help="Overwrite an existing key and .pub.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Make an Ed25519 key pair: the private key (mode 0600; keep it secret) and a .pub line to
    hand to those who pull. Prints the public key line; compare fingerprints by phone."""
    from genekb.store.signing import new_key

    report = new_key(out, force=force)
    if json_:
        print_json(report)
        return
    typer.echo(report["public_key"])
    info(
        f"wrote {report['key']} (private, mode 0600: keep it secret) and"
        f" {report['public_key_file']}; fingerprint {report['fingerprint']}"
    )


@handle_errors
def keys_show(
    key: Annotated[str, typer.Argument(help="A key file, a .pub, or a `genekb-ed25519 …` line.")],
    json_: JsonOpt = False,
) -> None:
    """Print a key's public line and fingerprint (what `pull --trust` and its refusals name)."""
    from genekb.store.signing import describe

    report = describe(key)
    if json_:
        print_json(report)
        return
    typer.echo(report["public_key"])
    info(f"fingerprint {report['fingerprint']}")
