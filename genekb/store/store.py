"""The store: a root directory of immutable, content-addressed text and embedding versions.

Layout under the root:

    genekb-store.json            marker: this directory is a store, and its format
    texts/<txt-id>/              genes.parquet + manifest.json
    embeddings/<emb-id>/         vectors.parquet + manifest.json
    tags.json                    human-readable tags -> embedding ids
    catalog.duckdb               views over the Parquet files (rebuildable; Parquet is canonical)
    .staging/<pid>-<rand>/       versions being written; renamed into place when complete
    .verified/<id>.json          which files were last hashed clean, at what size and mtime
    locks/                       one lock file per version id, and one for tags/catalog

A version directory appears only by `rename` of a complete staging directory, so readers never see
a half version, and a builder killed mid-way leaves only staging debris that the next writer clears.
Every read checks what it uses against the version's manifest (`genekb.store.integrity`) and
refuses a damaged version; the other versions of the store stay usable.

`Store.open(root, create=True)` writes nothing until the first write: a command that fails on
bad input leaves no empty store behind. Where the root lies, and what a directory must hold to
open as one, is `genekb.store.store_root`.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

from genekb.errors import DamagedVersionWarning, GenekbError, IntegrityError, UsageError, warn
from genekb.fileio import atomic_write, left_by_dead_process, named_writes
from genekb.genemap import lookalike_note
from genekb.store import integrity
from genekb.store.ids import (
    ID_PREFIXES,
    VERSION_NAME,
    ambiguous,
    prefix_matches,
    short_prefix_note,
    tag_problem,
)
from genekb.store.locks import waiting_lock
from genekb.store.manifest import FORMAT, MANIFEST, now_iso
from genekb.store.readers import GENES_FILE, VECTORS_FILE, EmbeddingVersion, TextVersion
from genekb.store.store_root import MARKER, open_local_root, own_folder, refuse_non_path_root
from genekb.store.tags_file import read_tags_file, tags_as_they_are, tags_document

__all__ = [
    "EMBEDDINGS",
    "GENES_FILE",
    "TAGS_FILE",
    "TEXTS",
    "VECTORS_FILE",
    "EmbeddingVersion",
    "Store",
    "TextVersion",
]

TEXTS, EMBEDDINGS = "texts", "embeddings"
TAGS_FILE = "tags.json"


class Store:
    """A genekb store rooted at a directory. Open with `Store.open(root)`."""

    # Opens a URL root read-only: genekb.store.remote, which builds on this module, sets it (the
    # package imports it), so this module need not import what depends on it.
    url_opener: ClassVar[Callable[..., Store] | None] = None

    def __init__(self, root: Path, *, pending: bool = False) -> None:
        if not isinstance(root, Path):  # gk.Store("artifacts") failed deep inside, at a read
            raise UsageError(f"open a store with gk.Store.open({str(root)!r}), not gk.Store(...)")
        self.root = root
        self._pending = pending  # opened with create=True; nothing written yet

    @property
    def place(self) -> str:
        """The store as messages name it (a remote store names its URL, not its cache)."""
        return str(self.root)

    # ---- opening -------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        root: str | os.PathLike[str] | None = None,
        *,
        create: bool = False,
        trust: list[str] | None = None,
    ) -> Store:
        """Open the store at `root` (see `store_root.resolve_root`); `create` makes a new one if
        absent.

        A URL (`https://…`, `s3://…`) opens a published store read-only (`genekb.store.remote`);
        `trust` (public keys, as `pull --trust` takes them) refuses it unless one signed its index.

        A new store's directory and marker are written by its first write, not here.
        """
        refuse_non_path_root(root)
        given = root if root else os.environ.get("GENEKB_HOME")  # a URL there opens it too
        if isinstance(given, str) and "://" in given and cls.url_opener is not None:
            if create:
                raise UsageError(f"{given} is a remote store, read-only; write to a local root")
            return cls.url_opener(given, trust=trust)
        if trust:
            raise UsageError("trust= checks a remote's signature; give a URL, not a local store")
        path, new = open_local_root(root, create=create)
        return cls(path, pending=new)

    @property
    def is_new(self) -> bool:
        """Opened with create=True and nothing written yet."""
        return self._pending

    def _materialize(self) -> None:
        """Write the root and marker of a store opened with create=True (first write only)."""
        if not self._pending:
            return
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if not (self.root / MARKER).exists():
                payload = json.dumps({"format": FORMAT, "created": now_iso()}) + "\n"
                atomic_write(self.root / MARKER, payload.encode())
        except OSError as exc:
            raise GenekbError(f"cannot create a store at {self.root}: {exc.strerror}") from None
        self._pending = False

    # ---- reading -------------------------------------------------------------------------------

    def _dir(self, kind: str) -> Path:
        return self.root / (TEXTS if kind == "text" else EMBEDDINGS)

    def version_dir(self, kind: str, vid: str) -> Path:
        """Where version `vid` of `kind` ("text" / "embedding") lies, whether or not it exists."""
        return self._dir(kind) / vid

    @property
    def tags_file(self) -> Path:
        return self.root / TAGS_FILE

    def version_ids(self, kind: str) -> list[str]:
        """The ids of every version of `kind` the store holds a directory for, damaged or not."""
        return self._ids(kind)

    def _ids(self, kind: str) -> list[str]:
        # A folder named by no id (`cp -r emb-… emb-….bak`) is no version, damaged or not.
        base = self._dir(kind)
        found = [p.name for p in base.iterdir() if p.is_dir()] if base.is_dir() else []
        return sorted(n for n in found if VERSION_NAME[kind].fullmatch(n))

    def _load(self, kind: str, vid: str) -> TextVersion | EmbeddingVersion:
        """A version with its manifest checked (self-hash, kind, id); files are checked on read."""
        path = self._dir(kind) / vid
        manifest = integrity.load_manifest(path, kind)
        cls = TextVersion if kind == "text" else EmbeddingVersion
        return cls(self, vid, path, manifest)

    def _loadable(self, kind: str) -> list[Any]:
        """Every version of `kind` whose manifest checks out; a damaged one is skipped with a
        warning, so one bad version does not stop the others from being listed or used."""
        found = []
        for vid in self._ids(kind):
            try:
                found.append(self._load(kind, vid))
            except IntegrityError as exc:
                warn(str(exc), DamagedVersionWarning)
        return found

    def texts(self) -> list[TextVersion]:
        return self._loadable("text")

    def embeddings(self) -> list[EmbeddingVersion]:
        return self._loadable("embedding")

    def versions(self) -> Iterator[TextVersion | EmbeddingVersion]:
        yield from self.texts()
        yield from self.embeddings()

    def read_tags(self) -> tuple[dict[str, str], str]:
        """(tags, state) of tags.json: `genekb.store.tags_file.read_tags_file`."""
        return read_tags_file(self.root / TAGS_FILE)

    def tags(self) -> dict[str, str]:
        """Tag -> embedding id; IntegrityError if tags.json is corrupt or was edited by hand."""
        return self.read_tags()[0]

    def _write_tags(self, tags: dict[str, str]) -> None:
        atomic_write(self.root / TAGS_FILE, tags_document(tags))

    def resign_tags(self) -> dict[str, str]:
        """Record tags.json's tags as they are now, with a fresh sha256 (after checking them)."""
        with self.lock("tags"):
            tags = tags_as_they_are(self.root / TAGS_FILE)
            self._write_tags(tags)
        return tags

    def resolve(self, kind: str, ref: str) -> str:
        """A version id from `ref`: the id itself, else a tag, else a unique id prefix (4+ digits
        after "emb-"). A reference that could mean two versions is refused, never guessed."""
        if not isinstance(ref, str) or not ref.strip():
            raise UsageError(f"a version is named by its id, tag or id prefix, not {ref!r}")
        ids = self._ids(kind)
        if ref in ids:
            return ref
        matches = [i for i in prefix_matches(ref, ids) if i != ref]
        try:
            tags = self.tags() if kind == "embedding" else {}
        except IntegrityError:  # an id prefix is no tag: a damaged tags.json need not stop it
            if not (matches and ref.startswith(ID_PREFIXES)):
                raise
            tags = {}
        if ref in tags:
            target = tags[ref]
            if matches and matches != [target]:  # a tag written before tags were names
                raise UsageError(
                    f"{ref!r} is both a tag (-> {target}) and a prefix of {matches[0]}; name the"
                    " version by its full id"
                )
            if target not in ids:
                raise IntegrityError(
                    f"tag {ref!r} points at {target}, which is not in {self.place}; "
                    "run `genekb verify`, then rebuild or re-import it"
                )
            return target
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ambiguous(ref, matches, f"{kind} versions")
        text_ids = self._ids("text") if kind == "embedding" and ref.startswith("txt-") else []
        named = prefix_matches(ref, text_ids)
        if len(named) == 1:  # a text version given where vectors are read (not UsageError:
            raise GenekbError(  # `version` goes on to the text kind past this one)
                f"{named[0]} is a text version (gene texts, no vectors); give an embedding"
                " version or tag built on it (see `genekb list`)"
            )
        hint = ", ".join(sorted(self.tags())) if kind == "embedding" else ", ".join(ids[:5])
        raise GenekbError(  # a Cyrillic 'а' in "humаn" reads like the tag it misses
            f"no {kind} version {ref!r}{short_prefix_note(ref, ids)} in {self.place}"
            f"{lookalike_note([ref])}"
            + (f"; known: {hint}" if hint else "; run `genekb build` first")
        )

    def text(self, ref: str) -> TextVersion:
        return self._load("text", self.resolve("text", ref))  # type: ignore[return-value]

    def embedding(self, ref: str) -> EmbeddingVersion:
        """An embedding version by id, tag or unique id prefix, refused (IntegrityError) when its
        text version is damaged; its own files are checked as they are read."""
        version = self._load("embedding", self.resolve("embedding", ref))
        version.text.check()
        version.check_copied()  # type: ignore[union-attr]
        return version  # type: ignore[return-value]

    def version(self, ref: str) -> TextVersion | EmbeddingVersion:
        """An embedding version by id/tag/prefix, else a text version by id/prefix."""
        for kind in ("embedding", "text"):
            try:
                vid = self.resolve(kind, ref)
            except (IntegrityError, UsageError):
                raise
            except GenekbError:
                continue
            return self._load(kind, vid)  # a damaged manifest is reported, not skipped
        raise GenekbError(
            f"no version or tag {ref!r} in {self.place}{lookalike_note([ref])}; see `genekb list`"
        )

    def has(self, kind: str, vid: str) -> bool:
        return (self._dir(kind) / vid / MANIFEST).exists()

    # ---- writing -------------------------------------------------------------------------------

    def lock(self, name: str, timeout: float = 3600) -> contextlib.AbstractContextManager[Any]:
        self._materialize()
        path = self.root / "locks" / f"{name}.lock"
        return waiting_lock(path, f"the {name} lock of {self.root}", timeout)

    def clear_stale_staging(self) -> None:
        """Remove staging directories of writers that no longer run (killed mid-build)."""
        staging = self.root / ".staging"
        if not staging.is_dir():
            return
        for entry in staging.iterdir():
            if left_by_dead_process(entry.name):
                shutil.rmtree(entry, ignore_errors=True)

    def staging_dir(self, label: str = "") -> Path:
        """A fresh directory under `.staging/` named for this process (cleared if it dies)."""
        self._materialize()
        self.clear_stale_staging()
        tmp = self.root / ".staging" / f"{os.getpid()}-{label}{uuid.uuid4().hex[:8]}"
        own_folder(tmp.parent, "versions being written").joinpath(tmp.name).mkdir()
        return tmp

    def remove_staging_dir(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(OSError):
            tmp.parent.rmdir()  # only when empty: other writers may be staging too

    @contextlib.contextmanager
    def staging(self, kind: str, vid: str, *, replace: bool = False) -> Iterator[Path]:
        """A fresh directory to write version `vid` into; renamed into place if the block succeeds.

        If another writer published the same version first, ours is discarded: versions are
        content-addressed, so both copies are equivalent and the first one stays. With `replace`
        (the caller holds the version's lock and found the published copy damaged), that copy
        is moved aside and ours takes its place.
        """
        tmp = self.staging_dir()
        aside = tmp.with_name(tmp.name + "-damaged")
        try:
            with named_writes(self._dir(kind) / vid):
                yield tmp
            final = self._dir(kind) / vid
            own_folder(final.parent, f"its {kind} versions")
            if replace and (final.exists() or final.is_symlink()):
                os.rename(final, aside)
            try:
                os.rename(tmp, final)
            except OSError as exc:
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise
        finally:
            if aside.is_symlink():
                aside.unlink()
            shutil.rmtree(aside, ignore_errors=True)
            self.remove_staging_dir(tmp)

    @contextlib.contextmanager
    def tagging(
        self,
        changes: dict[str, str],
        *,
        force: bool = True,
        undo: Callable[[], None] | None = None,
    ) -> Iterator[None]:
        """Hold the tags lock while the block publishes what `changes` point at, then point the
        tags; with force=False a tag that exists elsewhere is refused under the lock, before
        the block runs, so two writers never both pass the check and one publishes untagged.
        `undo` takes back what the block published when the tags cannot be written (a full
        disk): still under the lock, so no other writer saw or tagged it meanwhile."""
        for tag, vid in changes.items():
            problem = tag_problem(tag)
            if problem or not isinstance(vid, str):
                raise UsageError(problem or f"a tag points at a version id, not {vid!r}")
        with self.lock("tags"):
            tags = self.tags()
            if not force:
                self.refuse_moving(changes, tags)
            yield
            try:
                missing = [v for v in changes.values() if not self.has("embedding", v)]
                if missing:
                    raise GenekbError(f"cannot tag {missing[0]}: no such embedding version")
                tags.update(changes)
                self._write_tags(tags)
            except BaseException:
                if undo is not None:
                    undo()
                raise

    def refuse_moving(self, changes: dict[str, str], tags: dict[str, str] | None = None) -> None:
        """Refuse `changes` that would move a tag pointing at another version (`tags`: the
        current tags, where the caller holds them); writers also call it early, before work."""
        tags = self.tags() if tags is None else tags
        moved = [t for t, v in changes.items() if t in tags and tags[t] != v]
        if moved:
            raise GenekbError(
                f"tag {moved[0]!r} already points at {tags[moved[0]]} in {self.root}; pass"
                " --force to move it"
            )

    def set_tags(self, changes: dict[str, str], *, force: bool = True) -> None:
        """Point tags at embedding ids; with force=False, refuse to move a tag that exists."""
        with self.tagging(changes, force=force):
            pass

    def set_tag(self, tag: str, embedding_id: str) -> None:
        self.set_tags({tag: embedding_id})

    # ---- checking ------------------------------------------------------------------------------

    def verify(
        self,
        refs: Sequence[str] | None = None,
        rewrite_catalog: Callable[[Store], Any] | None = None,
    ) -> list[dict[str, Any]]:
        """Re-hash every file of the given versions (all when None), and check the tags and the
        catalog: `genekb.store.store_verify.verify_store`."""
        from genekb.store.store_verify import verify_store

        return verify_store(self, refs, rewrite_catalog)
