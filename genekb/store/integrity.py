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
import stat
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, IntegrityError
from genekb.fileio import atomic_write, read_regular, sha256_file
from genekb.store.content import CONTENT_KEY, content_and_problems
from genekb.store.fields import version_problems
from genekb.store.ids import expected_id
from genekb.store.manifest import MANIFEST, NewerManifestError, read_manifest

VERIFIED_DIR = ".verified"
DATA_FILES = {"text": "genes.parquet", "embedding": "vectors.parquet"}
UNSIZED_LIMIT = 1 << 40  # bytes read of a file whose size the manifest does not record


REPAIR_HINT = (
    "run `genekb verify` for details; `genekb build` of the same recipe writes it again, or"
    " `genekb import --replace-damaged FILE` replaces it from a good export"
)


def damaged(file: Path, reason: str) -> IntegrityError:
    return IntegrityError(
        f"{file}: {reason}; this version is damaged and was not used ({REPAIR_HINT})"
    )


def load_manifest(path: Path, kind: str) -> dict[str, Any]:
    """A version's manifest, checked: its self-hash, its kind, and its id against its contents."""
    if path.is_symlink():
        raise damaged(path, "is a symbolic link; a version is a directory of the store")
    try:
        manifest = read_manifest(path, check=True)
    except NewerManifestError as exc:  # it said "damaged", and how to replace it
        raise IntegrityError(f"{exc}; this version was not used") from None
    except IntegrityError as exc:  # unreadable, or not genekb's: damaged like any other file
        reason = str(exc).removeprefix(f"{path / MANIFEST}: ")
        raise damaged(path / MANIFEST, reason) from None
    vid = path.name
    try:
        consistent = (
            manifest.get("kind") == kind
            and manifest.get("id") == vid
            and expected_id(manifest) == vid
            and isinstance(manifest.get("files"), dict)
            and all(_plain_name(n) and _file_entry(e) for n, e in manifest["files"].items())
        )
    except (KeyError, TypeError, ValueError):
        consistent = False
    if not consistent:
        raise damaged(path / MANIFEST, "its contents do not match the version id")
    return manifest


def _plain_name(name: object) -> bool:
    """A file a manifest lists lies in its version's directory: a name, never a path."""
    return (
        isinstance(name, str)
        and name not in ("", ".", "..", MANIFEST)
        and not any(c in name for c in "/\\\0")
    )


def _file_entry(entry: object) -> bool:
    """What a manifest records of a file: its sha256 and its size."""
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("sha256"), str)
        and (entry.get("bytes") is None or (type(entry["bytes"]) is int and entry["bytes"] >= 0))
    )  # sizes are recorded since the first format; None is tolerated for a hand-made one


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
        data = read_regular(file, _size_of(entry), follow=False)
    except FileNotFoundError:
        raise damaged(file, "missing") from None
    except GenekbError as exc:
        raise damaged(file, _reason(exc, file)) from None
    if type(entry.get("bytes")) is int and len(data) != entry["bytes"]:  # None: unrecorded
        raise damaged(file, f"size {len(data)} bytes, the manifest records {entry['bytes']}")
    if hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise damaged(file, "sha256 does not match the manifest")
    return data


def _size_of(entry: dict[str, Any]) -> int:
    """The size a manifest entry records: a reader reads no more than that."""
    size = entry.get("bytes")
    return size if type(size) is int and size >= 0 else UNSIZED_LIMIT


def _reason(exc: Exception, file: Path) -> str:
    return str(exc).replace(f"{file} ", "", 1).split("; ")[0]


def _file_stamp(file: Path) -> list[int]:
    """The stamp of a store file, which must be a regular file (never a link: it could point
    anywhere, a device or a pipe included)."""
    st = file.lstat()
    if not stat.S_ISREG(st.st_mode):
        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
        raise damaged(file, kind)
    return _stamp(st)


def _stamp(st: os.stat_result) -> list[int]:
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _record_path(root: Path, vid: str) -> Path:
    return root / VERIFIED_DIR / f"{vid}.json"


def _read_record(root: Path, vid: str) -> dict[str, Any]:
    try:
        record = json.loads(read_regular(_record_path(root, vid), 1 << 20, follow=False))
    except (OSError, GenekbError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_record(root: Path, vid: str, record: dict[str, Any]) -> None:
    # A read-only store still reads: the record only saves work, so failing to write it is fine
    # (atomic_write turns the file system's refusal into a GenekbError naming the file).
    with contextlib.suppress(OSError, GenekbError):
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
            stamp = _file_stamp(file)
        except FileNotFoundError:
            raise damaged(file, "missing") from None
        known = record.get(name)
        if known == {"stamp": stamp, "sha256": entry["sha256"]}:
            continue
        recorded = entry.get("bytes")  # None or absent: unrecorded, not a size that differs
        if (type(recorded) is int and stamp[0] != recorded) or _hash(file) != entry["sha256"]:
            raise damaged(file, "sha256 does not match the manifest")
        record[name] = {"stamp": stamp, "sha256": entry["sha256"]}
        changed = True
    if changed and remember:
        _write_record(root, vid, record)


def _hash(file: Path) -> str:
    try:
        return sha256_file(file, follow=False)
    except GenekbError as exc:
        raise damaged(file, _reason(exc, file)) from None


def data_checks(
    path: Path, kind: str, manifest: dict[str, Any], files: dict[str, bytes], text_dir: Path | None
) -> tuple[str | None, list[str]]:
    """(the content id recomputed from the data, every problem the data show): the content id
    claimed, and each manifest field the data contradict (`genekb.store.fields`). `files` holds
    the version's files, already checked against their sha256; `text_dir` an embedding version's
    text version (its files are read through their hash check)."""
    data_file = DATA_FILES[kind]
    found, problems = content_and_problems(path, manifest, data_file, files[data_file])
    text = None
    if kind == "embedding" and text_dir is not None:
        try:
            text_manifest = load_manifest(text_dir, "text")
            text = (text_manifest, read_verified(text_dir, text_manifest, DATA_FILES["text"]))
        except FileNotFoundError:
            text = None
        except IntegrityError as exc:
            reason = _reason(exc, text_dir)
            return found, [*problems, f"{path}: its text version is damaged ({reason})"]
    fields = version_problems(kind, manifest, files[data_file], text, files.get)
    return found, problems + [f"{path / MANIFEST}: {p}" for p in fields]


def verify_version(root: Path, path: Path, kind: str) -> dict[str, Any]:
    """Re-hash every file of one version and check its manifest against its data; a report
    naming each problem."""
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
    files: dict[str, bytes] = {}
    for name, entry in sorted(listed.items()):
        try:
            stamp = _file_stamp(path / name)
            files[name] = read_verified(path, manifest, name)
        except FileNotFoundError:
            problems.append(f"{path / name}: missing")
            continue
        except IntegrityError as exc:
            problems.append(str(exc).split("; this version")[0])
            continue
        record[name] = {"stamp": stamp, "sha256": entry["sha256"]}
    text_dir = root / "texts" / str(manifest.get("text_id", "")) if kind == "embedding" else None
    if kind == "embedding" and not (text_dir / MANIFEST).exists():
        problems.append(f"{path}: its text version {manifest.get('text_id')} is missing")
    if not problems and DATA_FILES[kind] in files:
        found, more = data_checks(path, kind, manifest, files, text_dir)
        problems += more
        report[CONTENT_KEY] = manifest.get(CONTENT_KEY) or found
        if CONTENT_KEY not in manifest:
            report["notes"] = [
                "no content sha256 recorded (written before genekb recorded one); recomputed"
            ]
    elif not problems:
        problems.append(f"{path / DATA_FILES[kind]}: not listed in the manifest")
    extra = sorted({p.name for p in path.iterdir()} - set(listed) - {MANIFEST})
    problems += [f"{path / name}: not listed in the manifest" for name in extra]
    if not problems:
        _write_record(root, vid, record)
    report["ok"] = not problems
    return report
