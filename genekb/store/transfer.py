"""Export a version (with the text version it rests on) to one tar file; import with hash checks."""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path, PurePosixPath
from typing import Any

from genekb.errors import GenekbError, IntegrityError
from genekb.store.manifest import FORMAT, now_iso, read_manifest
from genekb.store.store import EMBEDDINGS, TEXTS, EmbeddingVersion, Store

EXPORT_MARKER = "genekb-export.json"


def export_version(store: Store, ref: str, file: Path, *, force: bool = False) -> dict[str, Any]:
    """Write version `ref` (and its text version) to `file` as an uncompressed tar."""
    version = store.version(ref)
    if file.exists() and not force:
        raise GenekbError(f"{file} exists; pass --force to overwrite it")
    members = [(TEXTS, version.id)] if version.kind == "text" else []
    if isinstance(version, EmbeddingVersion):
        members = [(TEXTS, version.text_id), (EMBEDDINGS, version.id)]
    header = {"format": FORMAT, "exported": now_iso(), "versions": [v for _, v in members]}
    tmp = file.with_name(f".{file.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with tarfile.open(tmp, "w") as tar:
            raw = (json.dumps(header, indent=2) + "\n").encode()
            info = tarfile.TarInfo(EXPORT_MARKER)
            info.size = len(raw)
            import io

            tar.addfile(info, io.BytesIO(raw))
            for kind, vid in members:
                tar.add(store.root / kind / vid, arcname=f"{kind}/{vid}")
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)
    return {"file": str(file), "versions": header["versions"], "bytes": file.stat().st_size}


def _safe_members(tar: tarfile.TarFile, source: Path) -> list[tarfile.TarInfo]:
    chosen = []
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.name == EXPORT_MARKER:
            continue
        if (
            not parts
            or parts[0] not in (TEXTS, EMBEDDINGS)
            or ".." in parts
            or member.name.startswith("/")
            or not (member.isfile() or member.isdir())
        ):
            raise GenekbError(f"{source}: unexpected member {member.name!r}; not a genekb export")
        chosen.append(member)
    return chosen


def import_file(store: Store, file: Path) -> dict[str, Any]:
    """Import the versions in `file`; every hash is checked before anything becomes visible."""
    from genekb.store.versions import expected_id

    if not file.is_file():
        raise GenekbError(f"{file}: no such file")
    try:
        tar = tarfile.open(file, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except (tarfile.TarError, OSError):
        raise GenekbError(f"{file} is not a genekb export (not a tar file)") from None
    with tar:
        try:
            header = json.loads(tar.extractfile(EXPORT_MARKER).read())  # type: ignore[union-attr]
        except (KeyError, AttributeError, json.JSONDecodeError, UnicodeDecodeError):
            raise GenekbError(f"{file} is not a genekb export (no {EXPORT_MARKER})") from None
        if header.get("format") != FORMAT:
            raise GenekbError(
                f"{file} is an export of format {header.get('format')!r}, not {FORMAT}"
            )
        members = _safe_members(tar, file)
        staging = store.root / ".staging" / f"{os.getpid()}-import-{uuid.uuid4().hex[:8]}"
        staging.mkdir(parents=True)
        try:
            tar.extractall(staging, members=members, filter="data")
            imported, present = [], []
            for kind in (TEXTS, EMBEDDINGS):  # texts first: embeddings rest on them
                for vdir in sorted((staging / kind).iterdir()) if (staging / kind).is_dir() else []:
                    manifest = read_manifest(vdir, check=True)
                    from genekb.store.hashing import sha256_file

                    for name, info in manifest["files"].items():
                        if sha256_file(vdir / name) != info["sha256"]:
                            raise IntegrityError(
                                f"{file}: {kind}/{vdir.name}/{name} fails its sha256"
                            )
                    if expected_id(manifest) != vdir.name or manifest["id"] != vdir.name:
                        raise IntegrityError(
                            f"{file}: {kind}/{vdir.name} id does not match its manifest"
                        )
                    target = store.root / kind / vdir.name
                    if target.exists():
                        present.append(vdir.name)
                        continue
                    target.parent.mkdir(exist_ok=True)
                    os.rename(vdir, target)
                    imported.append(vdir.name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return {"file": str(file), "imported": imported, "already_present": present}
