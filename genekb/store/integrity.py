"""Checking a version's bytes against its manifest, on every read and in `genekb verify`.

Like git, which checks an object's hash whenever it reads it, a reader never uses a file whose
sha256 differs from the one its manifest records:

- `read_verified` hashes the very bytes it returns (one read, no window between check and use);
  hashing is a small cost beside decoding Parquet (`scripts/bench_store_read.py` measures it).
- `check_files` serves readers that hand a path to another library (the SQL catalog, export):
  it hashes each file once and records the file's size, mtime, ctime and inode under
  `<root>/.verified/`; later checks re-hash only a file whose record no longer matches, so a
  warm check costs one `stat` per file. The ctime cannot be set back by a user, so restoring an
  edited file's mtime does not fool it.
- `verify_version` always re-hashes everything, recomputes the content id from the decoded data
  (`genekb.store.content`), and also reports files the manifest does not list.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from genekb.errors import IntegrityError
from genekb.fileio import atomic_write, sha256_file
from genekb.store.content import CONTENT_KEY, check_content
from genekb.store.ids import expected_id
from genekb.store.manifest import MANIFEST, read_manifest

VERIFIED_DIR = ".verified"
DATA_FILES = {"text": "genes.parquet", "embedding": "vectors.parquet"}


def damaged(file: Path, reason: str) -> IntegrityError:
    return IntegrityError(
        f"{file}: {reason}; this version is damaged and was not used "
        "(run `genekb verify` for details, then rebuild or re-import it)"
    )


def load_manifest(path: Path, kind: str) -> dict[str, Any]:
    """A version's manifest, checked: its self-hash, its kind, and its id against its contents."""
    manifest = read_manifest(path, check=True)
    vid = path.name
    try:
        consistent = (
            manifest.get("kind") == kind
            and manifest.get("id") == vid
            and expected_id(manifest) == vid
            and isinstance(manifest.get("files"), dict)
        )
    except (KeyError, TypeError, ValueError):
        consistent = False
    if not consistent:
        raise damaged(path / MANIFEST, "its contents do not match the version id")
    return manifest


def _entry(manifest: dict[str, Any], path: Path, name: str) -> dict[str, Any]:
    entry = manifest["files"].get(name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise damaged(path / name, "not listed in the manifest")
    return entry


def read_verified(path: Path, manifest: dict[str, Any], name: str) -> bytes:
    """The bytes of `path/name`, after checking them against the manifest's sha256."""
    entry = _entry(manifest, path, name)
    file = path / name
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise damaged(file, "missing") from None
    if len(data) != entry.get("bytes", len(data)):
        raise damaged(file, f"size {len(data)} bytes, the manifest records {entry['bytes']}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise damaged(file, "sha256 does not match the manifest")
    return data


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _record_path(root: Path, vid: str) -> Path:
    return root / VERIFIED_DIR / f"{vid}.json"


def _read_record(root: Path, vid: str) -> dict[str, Any]:
    try:
        record = json.loads(_record_path(root, vid).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(root: Path, vid: str, record: dict[str, Any]) -> None:
    # A read-only store still reads: the record only saves work, so failing to write it is fine.
    with contextlib.suppress(OSError):
        (root / VERIFIED_DIR).mkdir(exist_ok=True)
        atomic_write(_record_path(root, vid), json.dumps(record, sort_keys=True).encode())


def check_files(root: Path, path: Path, manifest: dict[str, Any], *, remember: bool = True) -> None:
    """Raise IntegrityError unless every file the manifest lists matches its sha256.

    With `remember`, files found clean are recorded under `root`, and a file whose size, mtime,
    ctime and inode still match its record is not hashed again.
    """
    vid = path.name
    record = _read_record(root, vid) if remember else {}
    changed = False
    for name, entry in sorted(manifest["files"].items()):
        file = path / name
        try:
            stamp = _stamp(file.stat())
        except FileNotFoundError:
            raise damaged(file, "missing") from None
        known = record.get(name)
        if known == {"stamp": stamp, "sha256": entry["sha256"]}:
            continue
        if stamp[0] != entry.get("bytes", stamp[0]) or sha256_file(file) != entry["sha256"]:
            raise damaged(file, "sha256 does not match the manifest")
        record[name] = {"stamp": stamp, "sha256": entry["sha256"]}
        changed = True
    if changed and remember:
        _write_record(root, vid, record)


def verify_version(root: Path, path: Path, kind: str) -> dict[str, Any]:
    """Re-hash every file of one version; a report naming each problem."""
    vid = path.name
    report: dict[str, Any] = {"id": vid, "kind": kind, "ok": False, "problems": []}
    try:
        manifest = load_manifest(path, kind)
    except IntegrityError as exc:
        report["problems"].append(str(exc).split("; this version")[0])
        return report
    problems: list[str] = report["problems"]
    listed = manifest["files"]
    record: dict[str, Any] = {}
    for name, entry in sorted(listed.items()):
        file = path / name
        if not file.exists():
            problems.append(f"{file}: missing")
            continue
        stamp = _stamp(file.stat())
        if sha256_file(file) != entry["sha256"]:
            problems.append(f"{file}: sha256 mismatch (expected {entry['sha256'][:12]}…)")
        else:
            record[name] = {"stamp": stamp, "sha256": entry["sha256"]}
    if not problems:
        data_file = DATA_FILES.get(kind, "")
        problems += check_content(path, manifest, data_file, (path / data_file).read_bytes())
        report[CONTENT_KEY] = manifest.get(CONTENT_KEY)
        if CONTENT_KEY not in manifest:
            report["notes"] = ["no content sha256 recorded (written before genekb recorded one)"]
    extra = sorted({p.name for p in path.iterdir()} - set(listed) - {MANIFEST})
    problems += [f"{path / name}: not listed in the manifest" for name in extra]
    if kind == "embedding":
        text_dir = root / "texts" / str(manifest.get("text_id", ""))
        if not (text_dir / MANIFEST).exists():
            problems.append(f"{path}: its text version {manifest.get('text_id')} is missing")
    if not problems:
        _write_record(root, vid, record)
    report["ok"] = not problems
    return report
