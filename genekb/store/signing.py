"""A publisher's Ed25519 key, and the detached signature of a remote's index.

`genekb keys new` writes a private key (PEM, mode 0600; encrypted with a passphrase when
given one) and beside it its public key as one line,
`genekb-ed25519 <base64 of the 32 raw bytes>`. `publish --sign KEY` writes, after the index,
`genekb-remote.json.sig`: the signing key's fingerprint, its public key and an Ed25519 signature
of the index's exact bytes. Those bytes name every version with each file's sha256 (the manifest
among them) and every tag, and a pull checks each file against the index: so a signature that
verifies vouches for the tags and the content alike. `pull --trust PUB` checks it before
anything is written, against the keys given and no other (the public key the signature file
carries only serves the report of who signed it when nothing is trusted).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from genekb.errors import GenekbError, IntegrityError, UsageError
from genekb.fileio import atomic_path, read_regular, require_file, write_bytes_to
from genekb.output_paths import check_output_file
from genekb.store.remote_urls import NotFound

PREFIX = "genekb-ed25519"  # the first word of a public key line
SIG_FORMAT = "genekb-signature/1"
SIG_SUFFIX = ".sig"  # the signature of `genekb-remote.json` is `genekb-remote.json.sig`
KEY_LIMIT = 64 << 10  # a key file, a .pub or a signature file is a few hundred bytes
PUB_WORDS = f"one line `{PREFIX} <base64>`, as `genekb keys new` writes beside the key"


def fingerprint(raw: bytes) -> str:
    """A short name of a public key to compare by phone: sha256 of its 32 raw bytes, 16 hex."""
    return hashlib.sha256(raw).hexdigest()[:16]


def key_fingerprint(key: Ed25519PrivateKey | Ed25519PublicKey) -> str:
    return fingerprint(_raw_public(key))


def public_line(raw: bytes) -> str:
    return f"{PREFIX} {base64.b64encode(raw).decode()}"


def _raw_public(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _parse_line(line: str) -> bytes | None:
    """The raw public key of a `genekb-ed25519 <base64> [comment]` line; None if it is none."""
    words = line.split()
    if len(words) < 2 or words[0] != PREFIX:
        return None
    try:
        raw = base64.b64decode(words[1], validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def public_key(spec: str, given_as: str = "--trust") -> bytes:
    """The raw public key `spec` names: a `genekb-ed25519 …` line itself, or a file holding one
    (a .pub). GenekbError in one line otherwise, naming `spec` as `given_as`."""
    if not spec.strip():  # Path("") is ".": "public key file . is a directory"
        raise UsageError(f"{given_as} is empty; give a .pub file or a `{PREFIX} …` key line")
    if spec.strip().startswith(PREFIX):
        raw = _parse_line(spec)
        if raw is None:
            raise GenekbError(f"{spec[:60]!r} is not a genekb public key ({PUB_WORDS})")
        return raw
    path = Path(spec)
    if not path.exists():
        raise GenekbError(f"{given_as} {spec}: no such file, and not a `{PREFIX} …` key line")
    text = read_regular(require_file(path, "public key file"), KEY_LIMIT).decode("utf-8", "replace")
    if "PRIVATE KEY" in text:
        raise GenekbError(f"{path} is a private key; --trust takes its public key (the .pub)")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    raw = _parse_line(lines[0]) if len(lines) == 1 else None
    if raw is None:
        raise GenekbError(f"{path} is not a genekb public key ({PUB_WORDS})")
    return raw


Passphrase = bytes | str | Callable[[], bytes | str | None] | None  # a callable: asked only if
#                                                                   the key is encrypted (a prompt)
PASSPHRASE_LIMIT = 1023  # bytes: cryptography encrypts and decrypts PEM keys up to this


def passphrase_from_env(var: str) -> bytes:
    """The passphrase in environment variable `var` (`--passphrase-env VAR`), its bytes as set."""
    if not var or "=" in var:
        raise UsageError(f"--passphrase-env {var!r} is no environment variable name")
    value = os.environb.get(os.fsencode(var)) if os.supports_bytes_environ else None
    if value is None and var in os.environ:  # Windows: no bytes environment
        value = os.environ[var].encode()
    if value is None:
        raise GenekbError(f"--passphrase-env {var}: no such environment variable is set;"
                          " export it first (its value is the passphrase)")  # fmt: skip
    return value


def checked_passphrase(passphrase: bytes | str) -> bytes:
    """`passphrase` (str as UTF-8) if a key can be encrypted with it: not empty, at most
    PASSPHRASE_LIMIT bytes."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    if not isinstance(passphrase, bytes):
        raise UsageError(f"passphrase= is bytes or str, not {type(passphrase).__name__}")
    if not passphrase:
        raise GenekbError("an empty passphrase protects nothing; give a passphrase, or make the"
                          " key without one (kept mode 0600)")  # fmt: skip
    if len(passphrase) > PASSPHRASE_LIMIT:
        raise GenekbError(f"the passphrase is {len(passphrase):,} bytes long; give at most"
                          f" {PASSPHRASE_LIMIT:,}")  # fmt: skip
    return passphrase


def load_private(path: Path, passphrase: Passphrase = None) -> Ed25519PrivateKey:
    """The signing key in `path` (as `genekb keys new` wrote it); GenekbError in one line. An
    encrypted key takes `passphrase` (bytes, or a callable asked only then: a prompt); an
    unencrypted one ignores it."""
    data = read_regular(require_file(Path(path), "key file"), KEY_LIMIT)
    if _parse_line(data.decode("utf-8", "replace")) is not None:
        raise GenekbError(f"{path} is a public key; --sign takes the private key file beside it")
    try:
        key = _load_pem(path, data, passphrase)
    except (ValueError, UnsupportedAlgorithm):
        raise GenekbError(
            f"{path} is not a genekb signing key (an Ed25519 private key in PEM, as `genekb keys"
            " new` writes)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise GenekbError(f"{path} is a {type(key).__name__.removesuffix('PrivateKey')} key;"
                          " genekb signs with Ed25519 keys (`genekb keys new`)")  # fmt: skip
    return key


def _load_pem(path: Path, data: bytes, passphrase: Passphrase) -> Any:
    """The private key in PEM `data`, decrypted with `passphrase` where it is encrypted."""
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted
        pass
    given = passphrase() if callable(passphrase) else passphrase
    if given is None:
        raise GenekbError(f"{path} is an encrypted key and no passphrase was given: name an"
                          " environment variable that holds it (--passphrase-env VAR), or run"
                          " in a terminal to be asked")  # fmt: skip
    if not given:
        raise GenekbError(f"{path}: an empty passphrase was given; give the key's passphrase")
    try:
        return serialization.load_pem_private_key(data, password=checked_passphrase(given))
    except (ValueError, TypeError):
        raise GenekbError(f"{path}: wrong passphrase (the key does not decrypt with it)") from None


def new_key(
    out: Path, *, force: bool = False, passphrase: bytes | str | None = None
) -> dict[str, Any]:
    """A new key pair: the private key at `out` (mode 0600; encrypted with `passphrase` when
    given), its public line at `out`.pub."""
    out = Path(out)
    pub = out.with_name(out.name + ".pub")
    check_output_file(out, force=force, flag="--out")
    check_output_file(pub, force=force, flag="public key file")
    encryption = (
        serialization.BestAvailableEncryption(checked_passphrase(passphrase))
        if passphrase is not None
        else serialization.NoEncryption()
    )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    with atomic_path(out) as tmp:
        # Created 0600, never readable by others even for a moment (umask only narrows it).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fd, 0o600)
            fh.write(pem)
    raw = _raw_public(key)
    write_bytes_to(pub, (public_line(raw) + "\n").encode())
    return {"key": str(out), "public_key_file": str(pub), "public_key": public_line(raw),
            "fingerprint": fingerprint(raw), "encrypted": passphrase is not None}  # fmt: skip


def describe(spec: str, passphrase: Passphrase = None) -> dict[str, Any]:
    """The public key line and fingerprint of a key file, a .pub or a key line (`keys show`)."""
    path = Path(spec)
    with contextlib.suppress(OSError):
        if path.is_file() and b"PRIVATE KEY" in read_regular(path, KEY_LIMIT):
            raw = _raw_public(load_private(path, passphrase))
            return {"public_key": public_line(raw), "fingerprint": fingerprint(raw)}
    raw = public_key(spec, "key")
    return {"public_key": public_line(raw), "fingerprint": fingerprint(raw)}


def sign(key: Ed25519PrivateKey, index: bytes) -> bytes:
    """The signature file of the index bytes `index`."""
    raw = _raw_public(key)
    doc = {
        "format": SIG_FORMAT,
        "key": fingerprint(raw),
        "public_key": public_line(raw),
        "index_sha256": hashlib.sha256(index).hexdigest(),
        "signature": base64.b64encode(key.sign(index)).decode(),
    }
    return (json.dumps(doc, indent=1, sort_keys=True) + "\n").encode()


def _parse_sig(data: bytes) -> tuple[str, bytes, bytes] | None:
    """(fingerprint, raw public key, signature) of a signature file; None if it is none."""
    try:
        doc = json.loads(data)
        raw = _parse_line(doc["public_key"])
        signature = base64.b64decode(doc["signature"], validate=True)
    except (ValueError, TypeError, KeyError, binascii.Error, RecursionError):
        return None
    if doc.get("format") != SIG_FORMAT or raw is None or doc.get("key") != fingerprint(raw):
        return None
    return doc["key"], raw, signature


def _verifies(raw: bytes, signature: bytes, index: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(raw).verify(signature, index)
    except (InvalidSignature, ValueError):
        return False
    return True


def signer(index: bytes, sig: bytes | None) -> str | None:
    """Who signed `index`, for a report when nothing is trusted: the fingerprint of the key the
    signature file names if its signature verifies, else None. Anyone can make a key: this says
    nothing of trust."""
    parsed = _parse_sig(sig) if sig is not None else None
    if parsed is None or not _verifies(parsed[1], parsed[2], index):
        return None
    return parsed[0]


def check_signed(index: bytes, sig: bytes | None, trusted: list[bytes], where: str) -> str:
    """The fingerprint of the trusted key that signed `index` (the exact bytes read); an
    IntegrityError naming what is wrong otherwise: no signature, another key's, or one that
    does not verify (the index changed after it was signed)."""
    tail = "; refused, nothing fetched"
    names = ", ".join(fingerprint(k) for k in trusted)
    if sig is None:
        raise IntegrityError(
            f"{where}: the index is not signed (no {SIG_SUFFIX} file beside it), and --trust asks"
            f" for a signature by {names}{tail}; ask its publisher to publish with --sign"
        )
    parsed = _parse_sig(sig)
    if parsed is None:
        raise IntegrityError(f"{where}: its {SIG_SUFFIX} file is not a genekb signature{tail}")
    seen, _, signature = parsed
    key = next((k for k in trusted if fingerprint(k) == seen), None)
    if key is None:
        raise IntegrityError(
            f"{where}: the index is signed by key {seen}, which is not one you trust ({names})"
            f"{tail}"
        )
    if not _verifies(key, signature, index):
        raise IntegrityError(
            f"{where}: its signature by key {seen} does not verify: the index changed after it"
            f" was signed (or a publish is under way: run again){tail}"
        )
    return seen


def remote_signer(remote: Any, name: str, index: bytes, trusted: list[bytes] | None) -> str | None:
    """Who signed the index bytes `index` read from `name` on `remote` (a `Remote`): with
    `trusted` keys, one of them or an IntegrityError (`check_signed`); without, the reported
    signer (`signer`), None for an unsigned index."""
    try:
        sig = remote.read(name + SIG_SUFFIX, limit=KEY_LIMIT)
    except NotFound:
        sig = None
    except GenekbError:  # only a report rests on it then: an unsigned pull goes on as before
        # (a folder or a pipe in its place in a folder remote, too: GenekbError, no RemoteError)
        if trusted:
            raise
        sig = None
    if trusted:
        return check_signed(index, sig, trusted, remote.where(name))
    return signer(index, sig)
