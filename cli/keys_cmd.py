"""`genekb keys new | show`: a publisher's signing key (`genekb.store.signing`), which
`publish --sign` uses and `pull --trust` checks."""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli.cellmodel_args import JsonOpt
from cli.common import OneLineUsageGroup, handle_errors, info, print_json

PassphraseEnvOpt = Annotated[
    str | None,
    typer.Option(
        "--passphrase-env",
        metavar="VAR",
        help="The environment variable that holds the key's passphrase (never on the command"
        " line, where `ps` shows it).",
    ),
]


def key_passphrase(var: str | None) -> bytes | Callable[[], bytes | None]:
    """The passphrase of an encrypted key: from `var`, else a prompt, asked only if the key is
    encrypted and stdin is a terminal (a script gets the one-line error instead of a hang)."""
    from genekb.store.signing import passphrase_from_env

    if var is not None:
        return passphrase_from_env(var)

    def ask() -> bytes | None:
        if not sys.stdin.isatty():
            return None
        try:
            return getpass.getpass("passphrase of the signing key: ").encode()
        except EOFError:
            return None

    return ask


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
    passphrase_env: PassphraseEnvOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Make an Ed25519 key pair: the private key (mode 0600, encrypted with --passphrase-env's;
    keep it secret) and a .pub line to hand to those who pull. Prints the public key line;
    compare fingerprints by phone."""
    from genekb.store.signing import new_key, passphrase_from_env

    passphrase = passphrase_from_env(passphrase_env) if passphrase_env is not None else None
    report = new_key(out, force=force, passphrase=passphrase)
    if json_:
        print_json(report)
        return
    typer.echo(report["public_key"])
    info(
        f"wrote {report['key']} (private, mode 0600"
        f"{', encrypted' if report['encrypted'] else ''}: keep it secret) and"
        f" {report['public_key_file']}; fingerprint {report['fingerprint']}"
    )


@handle_errors
def keys_show(
    key: Annotated[str, typer.Argument(help="A key file, a .pub, or a `genekb-ed25519 …` line.")],
    passphrase_env: PassphraseEnvOpt = None,
    json_: JsonOpt = False,
) -> None:
    """Print a key's public line and fingerprint (what `pull --trust` and its refusals name)."""
    from genekb.store.signing import describe

    report = describe(key, key_passphrase(passphrase_env))
    if json_:
        print_json(report)
        return
    typer.echo(report["public_key"])
    info(f"fingerprint {report['fingerprint']}")
