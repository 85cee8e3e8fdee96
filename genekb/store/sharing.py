"""Export a version (with the text version it rests on, and its tags) to one tar file, compressed
when its name says so; import it all-or-nothing.

Import stages every member, checks the member list against the manifests, every manifest, every
sha256 and every id, and checks the tags, before anything is renamed into the store. If any check
fails the target store is left exactly as it was (a store that did not exist is not created).
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from genekb.errors import GenekbError, IntegrityError, UsageError, format_words
from genekb.fileio import atomic_path, named_writes, read_regular, require_file
from genekb.output_paths import check_output_file
from genekb.store import integrity
from genekb.store.content import CONTENT_KEY, content_and_problems
from genekb.store.ids import tag_problem
from genekb.store.manifest import FORMAT, MANIFEST, MANIFEST_LIMIT, now_iso
from genekb.store.new_store import new_store_undo
from genekb.store.store import EMBEDDINGS, TEXTS, EmbeddingVersion, Store

EXPORT_MARKER = "genekb-export.json"
UNPACK_RATIO, UNPACK_SLACK = 20, 64 << 20  # what an import may unpack: 20× the file + 64 MiB
# The file name says the compression, as `tar` reads it; any other name gets a plain tar.
COMPRESSED = {".tar.gz": "gz", ".tgz": "gz", ".tar.bz2": "bz2", ".tbz2": "bz2", ".tbz": "bz2",
              ".tar.xz": "xz", ".txz": "xz"}  # fmt: skip
# Names of other compressions (zstd, lz4, lzma, compress) and of the vector files users read
# (`vectors.csv` holding a tar): a plain tar must not wear them.
NOT_TAR = (".zip", ".gz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".tzst", ".lz4", ".lzma", ".tlz",
           ".lz", ".z", ".csv", ".tsv", ".txt", ".json", ".parquet", ".npz", ".npy", ".pkl",
           ".pickle", ".h5ad")  # fmt: skip


def _write_mode(file: Path) -> str:
    """tarfile's write mode for `file`'s name; a name that promises another format is refused."""
    name = file.name.lower()
    for suffix, compression in COMPRESSED.items():
        if name.endswith(suffix):
            return f"w:{compression}"
    if name.endswith(NOT_TAR):
        raise UsageError(
            f"{file.name}: an export is a tar archive; name it .tar, or .tar.gz / .tar.bz2 /"
            " .tar.xz to compress it"
        )
    return "w"


def export_version(store: Store, ref: str, file: Path, *, force: bool = False) -> dict[str, Any]:
    """Write version `ref` (and its text version and tags) to `file` as a tar, compressed as the
    name says (`COMPRESSED`)."""
    mode = _write_mode(file)
    check_output_file(file, force=force, flag="export file")
    version = store.version(ref)
    members = [version]
    if isinstance(version, EmbeddingVersion):
        members = [version.text, version]
    for v in members:  # never export damaged bytes, nor a manifest its data contradict
        report = integrity.verify_version(store.root, v.path, v.kind)
        if not report["ok"]:
            raise integrity.damaged(v.path, report["problems"][0].replace(f"{v.path}/", "", 1))
    tags = {t: v for t, v in store.tags().items() if v == version.id}
    header = {
        "format": FORMAT,
        "exported": now_iso(),
        "versions": [v.id for v in members],
        "tags": tags,
    }
    with atomic_path(file) as tmp, tarfile.open(tmp, mode) as tar:
        raw = (json.dumps(header, indent=2) + "\n").encode()
        info = tarfile.TarInfo(EXPORT_MARKER)
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
        for v in members:
            kind = TEXTS if v.kind == "text" else EMBEDDINGS
            tar.add(v.path, arcname=f"{kind}/{v.id}", recursive=False)
            for name in [MANIFEST, *sorted(v.manifest["files"])]:
                data = v.read_bytes(name) if name != MANIFEST else _manifest_bytes(v.path)
                entry = tarfile.TarInfo(f"{kind}/{v.id}/{name}")
                entry.size = len(data)
                tar.addfile(entry, io.BytesIO(data))
    return {
        "file": str(file),
        "content_sha256": version.manifest.get(CONTENT_KEY) or _content_of(version),
        "versions": header["versions"],
        "tags": sorted(tags),
        "bytes": file.stat().st_size,
    }


def _manifest_bytes(folder: Path) -> bytes:
    return read_regular(folder / MANIFEST, MANIFEST_LIMIT, follow=False)


def _content_of(version: Any) -> str | None:
    """The content id of a version written before genekb recorded one, from its data."""
    data = version.read_bytes(version.data_file)
    return content_and_problems(version.path, version.manifest, version.data_file, data)[0]


def _read_header(tar: tarfile.TarFile, source: Path) -> dict[str, Any]:
    try:
        header = json.loads(tar.extractfile(EXPORT_MARKER).read())  # type: ignore[union-attr]
    except (KeyError, AttributeError, json.JSONDecodeError, UnicodeDecodeError):
        raise GenekbError(f"{source} is not a genekb export (no {EXPORT_MARKER})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise GenekbError(f"{source} is an export of {format_words(found, FORMAT)}")
    versions = header.get("versions")
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise GenekbError(
            f"{source}: its header does not list its versions; not a file `genekb export` wrote"
        )
    tags = header.setdefault("tags", {})  # an export of a text version alone has none
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise GenekbError(f"{source}: its tags are not a mapping of tag to version id")
    named = next((p for p in map(tag_problem, tags) if p), None)
    if named:
        raise GenekbError(f"{source}: refused, {named}")
    return header


def _members(tar: tarfile.TarFile, source: Path) -> dict[tuple[str, str], set[str]]:
    """{(kind, version id): file names} of an export; refuses anything else in it."""
    found: dict[tuple[str, str], set[str]] = {}
    for member in tar.getmembers():
        if member.name == EXPORT_MARKER:
            continue
        parts = PurePosixPath(member.name).parts
        if member.isdir() and parts in ((TEXTS,), (EMBEDDINGS,)):  # an unpacked export re-tarred
            continue
        ok = (
            len(parts) in (2, 3)
            and parts[0] in (TEXTS, EMBEDDINGS)
            and ".." not in parts
            and not member.name.startswith("/")
            and (member.isdir() if len(parts) == 2 else member.isfile())
        )
        if not ok:
            raise GenekbError(f"{source}: unexpected member {member.name!r}; not a genekb export")
        names = found.setdefault((parts[0], parts[1]), set())
        if len(parts) == 3:
            names.add(parts[2])
    return found


def _check_size(tar: tarfile.TarFile, source: Path) -> None:
    """An export is an uncompressed tar; a compressed one unpacks to a few times its size. Far
    more than that is a bomb meant to fill the disk: refused before extracting anything."""
    total = sum(m.size for m in tar.getmembers())
    limit = UNPACK_RATIO * source.stat().st_size + UNPACK_SLACK
    if total > limit:
        raise GenekbError(f"{source}: its members unpack to {total:,} bytes, far more than the"
                          " file holds; refused before extracting")  # fmt: skip


def check_staged(
    staged: Path, kind: str, names: set[str], source: Path | str, text_dir: Path | None
) -> tuple[dict[str, Any], str]:
    """Every check of one staged version (`text_dir`: an embedding's text version, staged or
    in the store); its manifest and content id (recomputed from the data) if all pass."""
    label = "text" if kind == TEXTS else "embedding"
    try:
        manifest = integrity.load_manifest(staged, label)
        files = {n: integrity.read_verified(staged, manifest, n) for n in manifest["files"]}
    except IntegrityError as exc:
        where = str(exc).split(": ", 1)[-1].split("; this version")[0]
        where = where.replace(f"{staged.parent.parent}{os.sep}", "")
        raise IntegrityError(f"{source}: {kind}/{staged.name} refused: {where}") from None
    if integrity.DATA_FILES[label] not in files:
        raise IntegrityError(f"{source}: {kind}/{staged.name} refused: it lists no data file")
    content, problems = integrity.data_checks(staged, label, manifest, files, text_dir)
    if problems:
        # a path under .staging/ is gone once the import fails: name the member of the file
        where = problems[0].split(": ", 1)[-1].replace(f"{staged.parent.parent}{os.sep}", "")
        raise IntegrityError(f"{source}: {kind}/{staged.name} refused: {where}")
    if names != set(manifest["files"]) | {MANIFEST}:
        extra = sorted(names - set(manifest["files"]) - {MANIFEST})
        raise IntegrityError(
            f"{source}: {kind}/{staged.name} holds files its manifest does not list: {extra}"
            if extra
            else f"{source}: {kind}/{staged.name} lacks files its manifest lists"
        )
    return manifest, str(content)


def import_file(
    store: Store,
    file: Path,
    *,
    force: bool = False,
    expect: str | None = None,
    replace_damaged: bool = False,
) -> dict[str, Any]:
    """Import the versions and tags in `file`, all or nothing.

    `force` lets the export's tags move tags that already point elsewhere in this store. `expect`
    (a content sha256 or a prefix of at least 12 hex digits, as the sender published it) refuses
    the file unless its embedding version holds exactly that content. A version the store holds
    a damaged copy of is refused unless `replace_damaged`: then the file's checked copy replaces
    it (the repair path the damaged-version message names).
    """
    if expect is not None and not re.fullmatch(r"[0-9a-f]{12,64}", expect.lower()):
        raise UsageError(f"--expect {expect!r} is not a content sha256 (12 to 64 hex digits)")
    require_file(file, "export file")
    try:
        tar = tarfile.open(file, "r:*")  # noqa: SIM115 - closed by the `with tar` below
    except (tarfile.TarError, OSError):
        raise GenekbError(f"{file} is not a genekb export (not a tar file)") from None
    with tar, _cut_short(file):
        _check_size(tar, file)
        header = _read_header(tar, file)
        members = _members(tar, file)
        listed = {vid for _, vid in members}
        if listed != set(header.get("versions", [])):
            raise IntegrityError(f"{file}: its versions do not match its header's list")
        texts_here = {vid for kind, vid in members if kind == TEXTS}
        if not force:  # early, before unpacking; checked again under the lock when publishing
            store.refuse_moving(header["tags"])
        undo = new_store_undo(store)
        staging = None
        try:
            staging = store.staging_dir("import-")
            with named_writes(store.root):  # tarfile names no file of a full disk
                tar.extractall(staging, filter="data")
            plan, contents = [], {}
            for (kind, vid), names in sorted(members.items()):  # texts sort before embeddings
                text_dir = staged_text_dir(store, staging, kind, vid, texts_here, file)
                _, contents[vid] = check_staged(staging / kind / vid, kind, names, file, text_dir)
                plan.append((kind, vid))
            check_expected(file, contents, plan, expect)
            embedding_ids = {vid for kind, vid in plan if kind == EMBEDDINGS}
            for tag, vid in header["tags"].items():
                if vid not in embedding_ids:
                    what = "not in the file"
                    if vid in texts_here:  # it said "not in the file" of one that is there
                        what = "a text version, where a tag names an embedding version"
                    raise IntegrityError(f"{file}: tag {tag!r} points at {vid}, {what}; refused")
            # The tags are checked again under their lock, which publishing holds: a concurrent
            # import that moved one first makes this one refuse before anything is published.
            imported, present = publish_tagged(
                store, staging, plan, header["tags"], force=force,
                replace_damaged=replace_damaged, file=file,
            )  # fmt: skip
        except BaseException:
            if staging is not None:
                store.remove_staging_dir(staging)
            undo()
            raise
        store.remove_staging_dir(staging)
    return {
        "file": str(file),
        "imported": imported,
        "already_present": present,
        "tags": sorted(header["tags"]),
    }


def staged_text_dir(
    store: Store, staging: Path, kind: str, vid: str, texts_here: set[str], file: Path | str
) -> Path | None:
    """Where the text version of staged embedding `vid` lies: in the file, else in the store."""
    if kind != EMBEDDINGS:
        return None
    try:
        text_id = str(integrity.load_manifest(staging / kind / vid, "embedding")["text_id"])
    except IntegrityError:
        return None  # reported, in the words of every staged version, by check_staged
    if text_id in texts_here:
        return staging / TEXTS / text_id
    if store.has("text", text_id):
        return store.root / TEXTS / text_id
    raise IntegrityError(
        f"{file}: embedding {vid} rests on text {text_id}, which is neither in what was sent nor"
        " in the store; refused"
    )


@contextlib.contextmanager
def _cut_short(file: Path) -> Iterator[None]:
    """A tar that ends early (a download cut off) in one line rather than tarfile's words."""
    try:
        yield
    except (tarfile.ReadError, EOFError) as error:
        raise IntegrityError(f"{file} is cut short or damaged ({error}); fetch it again") from None


def check_expected(
    file: Path | str, contents: dict[str, str], plan: list[tuple[str, str]], expect: str | None
) -> None:
    if expect is None:
        return
    held = [contents[vid] for kind, vid in plan if kind == EMBEDDINGS] or list(contents.values())
    if not any(c.startswith(expect.lower()) for c in held):
        raise IntegrityError(
            f"{file}: its content sha256 is {', '.join(c[:16] for c in held)}…, not the "
            f"{expect[:16]}… you expected; refused (ask the sender which file they published)"
        )


@dataclass
class Moves:
    """The renames `publish_staged` made, so that they can be taken back."""

    done: list[tuple[Path, Path]] = field(default_factory=list)  # (in the store, staged)
    aside: list[tuple[Path, Path]] = field(default_factory=list)  # (damaged copy, moved to)

    def undo(self) -> None:
        for target, back in reversed(self.done):
            os.rename(target, back)
        for target, moved in reversed(self.aside):
            os.rename(moved, target)
        self.done.clear()
        self.aside.clear()


def publish_tagged(
    store: Store,
    staging: Path,
    plan: list[tuple[str, str]],
    changes: dict[str, str],
    *,
    force: bool = False,
    replace_damaged: bool = False,
    file: Path | str = "",
) -> tuple[list, list]:
    """`publish_staged` under the tags lock, then `changes` to the tags. Tags that cannot be
    written (a full disk) take the renames back: a version never stays visible without the
    tags its pull or import promised, and the command's error stays true."""
    moves = Moves()
    lock = (
        store.tagging(changes, force=force, undo=moves.undo)
        if changes
        else contextlib.nullcontext()
    )
    with lock:
        return publish_staged(store, staging, plan, replace_damaged, file, moves)


def publish_staged(
    store: Store,
    staging: Path,
    plan: list[tuple[str, str]],
    replace_damaged: bool = False,
    file: Path | str = "",
    moves: Moves | None = None,
) -> tuple[list, list]:
    """Rename each checked version into place; undo the renames if one fails. A damaged copy in
    the store is moved aside first (with `replace_damaged`) and removed once all are in place.
    `moves` records the renames for a caller that may have to take them back."""
    imported: list[str] = []
    present: list[str] = []
    moves = Moves() if moves is None else moves
    done, aside = moves.done, moves.aside
    try:
        for kind, vid in plan:
            target = store.root / kind / vid
            if _damaged_copy(store, kind, target):
                if not replace_damaged:
                    raise IntegrityError(
                        f"{target} is damaged in this store; `genekb import --replace-damaged"
                        f" {file}` replaces it with this file's checked copy"
                    )
                aside.append((target, staging / f"damaged-{kind}-{vid}"))
                os.rename(*aside[-1])
            if target.exists() or target.is_symlink():
                present.append(vid)
                continue
            target.parent.mkdir(exist_ok=True)
            try:
                os.rename(staging / kind / vid, target)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
                present.append(vid)  # a concurrent importer published the same version
                continue
            done.append((target, staging / kind / vid))
            imported.append(vid)
    except BaseException:  # a failed rename, or Ctrl-C between two: nothing stays half-published
        moves.undo()
        raise
    return imported, present


def _damaged_copy(store: Store, kind: str, target: Path) -> bool:
    """Whether the store holds a copy of this version that does not verify clean."""
    if not (target.exists() or target.is_symlink()):
        return False
    label = "text" if kind == TEXTS else "embedding"
    report = integrity.verify_version(store.root, target, label)
    if label == "embedding":  # its text version is checked on its own turn
        report["problems"] = [p for p in report["problems"] if "text version" not in p]
    return bool(report["problems"])
