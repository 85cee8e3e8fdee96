"""manifest.json: what a version is, how it was made, and the sha256 of every file in it.

The manifest also carries the hash of its own bytes (with that field blanked), so a flipped byte
anywhere in a version, the manifest included, is caught by `verify`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from genekb.errors import (
    GenekbError,
    GenekbWarning,
    IntegrityError,
    format_words,
    is_newer_format,
    warn,
)
from genekb.fileio import read_regular
from genekb.store.hashing import nonfinite_at

FORMAT = "genekb-store/1"
MANIFEST = "manifest.json"
SELF_KEY = "manifest_sha256"
_BLANK = f'"{SELF_KEY}": ""'
MANIFEST_LIMIT = 16 << 20  # bytes: a manifest lists a few files; more is not one genekb wrote

_WARNED: set[str] = set()  # manifests this process warned of: each once, however often read


class NonFiniteManifestWarning(GenekbWarning):
    """A manifest records NaN or infinity (genekb wrote them before it refused them): the version
    is read as it is, but other JSON readers refuse the file."""


_LIBRARIES = (
    "genekb-cellmodel",
    "torch",
    "transformers",
    "sentence-transformers",
    "pyarrow",
    "numpy",
)


def library_versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return found


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def dump_manifest(data: dict[str, Any]) -> bytes:
    where = nonfinite_at(data)
    if where is not None:  # json wrote it as `NaN`, which other JSON parsers refuse
        raise GenekbError(
            f"a manifest would record a NaN or infinity at {where[:120]!r}, which JSON has not;"
            " give a finite number there"
        )
    body = dict(data)
    body[SELF_KEY] = ""
    raw = json.dumps(body, indent=2, sort_keys=True, default=str, allow_nan=False)
    digest = hashlib.sha256(raw.encode()).hexdigest()
    return raw.replace(_BLANK, f'"{SELF_KEY}": "{digest}"', 1).encode() + b"\n"


def write_manifest(directory: Path, data: dict[str, Any]) -> None:
    """Write into a staging directory (renamed into place whole, so no temp name is needed)."""
    path = directory / MANIFEST
    with path.open("wb") as fh:
        fh.write(dump_manifest(data))
        fh.flush()
        os.fsync(fh.fileno())


class NewerManifestError(IntegrityError):
    """A version a newer genekb wrote: refused, but no damage to repair (`--replace-damaged`
    would put an older copy in its place)."""


def written_by_newer(directory: Path) -> bool:
    """Whether the version at `directory` has a manifest a newer genekb wrote: refused here,
    yet no damage (`genekb list` says so rather than "damaged")."""
    try:
        read_manifest(directory, check=False)
    except NewerManifestError:
        return True
    except IntegrityError:
        return False
    return False


def read_manifest(directory: Path, *, check: bool = True) -> dict[str, Any]:
    """Parse `directory/manifest.json`; with `check`, IntegrityError unless its self-hash holds."""
    path = directory / MANIFEST
    try:
        raw = read_regular(path, MANIFEST_LIMIT, follow=False).decode()
        data = json.loads(raw)
    except FileNotFoundError:
        raise IntegrityError(f"{path}: missing manifest; the version is incomplete") from None
    except GenekbError as exc:
        reason = str(exc).replace(f"{path} ", "", 1)
        raise IntegrityError(f"{path}: {reason}; not a manifest genekb wrote") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        what = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else "not valid JSON"
        raise IntegrityError(f"{path}: corrupt manifest ({what})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        if is_newer_format(found, FORMAT):
            raise NewerManifestError(f"{path}: {format_words(found, FORMAT)}")
        raise IntegrityError(f"{path}: not a {FORMAT} manifest")
    if check:
        recorded = str(data.get(SELF_KEY, ""))
        blanked = raw.rstrip("\n").replace(f'"{SELF_KEY}": "{recorded}"', _BLANK, 1)
        if hashlib.sha256(blanked.encode()).hexdigest() != recorded:
            raise IntegrityError(f"{path}: manifest bytes do not match their recorded sha256")
    _warn_nonfinite(path, data)
    return data


def _warn_nonfinite(path: Path, data: dict[str, Any]) -> None:
    """Warn, once per file, of a NaN or infinity in a manifest: refusing it would lock a store's
    existing versions away for a number JSON has not."""
    where = nonfinite_at(data)
    if where is None or os.path.abspath(path) in _WARNED:
        return
    _WARNED.add(os.path.abspath(path))
    warn(
        f"{path}: the manifest records NaN or infinity at {where[:120]!r}, which JSON has not;"
        " the version is read as it is, but other JSON readers refuse this file",
        NonFiniteManifestWarning,
    )
