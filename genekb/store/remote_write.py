"""Writing a remote's files (`genekb publish`): a folder or an fsspec URL, never HTTP. A mixin
of `genekb.store.remote_io.Remote`, which sets the attributes below and retries each request."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, UsageError
from genekb.fileio import sha256_file
from genekb.store.remote_urls import OBJECT_STORES, NotFound, RemoteError


class RemoteWriter:
    """What `Remote` writes with; it reads with the rest."""

    url: str
    is_http: bool
    _fs: Any
    _base: str
    where: Callable[[str], str]
    _retrying: Callable[[str, Callable[[], Any]], Any]

    def _protocols(self) -> set[str]:
        protocols = getattr(self._fs, "protocol", ())
        return set(protocols if isinstance(protocols, tuple) else (protocols,))

    def _is_local(self) -> bool:
        return not self.is_http and "file" in self._protocols()

    def _is_object_store(self) -> bool:
        return not self.is_http and bool(OBJECT_STORES & self._protocols())

    def _path(self, name: str) -> str:
        """Where `name` lies for the file system; in a local folder, refused where it resolves
        outside the folder: a symbolic link inside it (`embeddings` -> elsewhere) had publish
        write, and pull read, files anywhere on the disk the link points to."""
        path = f"{self._base}/{name}" if self._base else name
        if self._is_local():
            root = Path(self._base or ".").resolve()
            target = Path(path).resolve()
            if target != root and root not in target.parents:
                raise RemoteError(
                    f"{self.where(name)}: lies outside the remote's folder (a symbolic link in it"
                    f" leads to {str(target)[:200]!r}); refused: replace the link with the"
                    " folder itself"
                )
        return path

    def _writable(self) -> Any:
        if self.is_http:
            raise UsageError(
                f"{self.url}: an HTTP remote is read-only; publish to the folder it serves, or to "
                "an s3:// (or other fsspec) URL"
            )
        return self._fs

    def local_folder(self) -> Path | None:
        """The folder of a local remote (a path or file:// URL); None for any other."""
        return Path(self._base or ".") if self._is_local() else None

    def is_other_folder(self, own: set[str]) -> bool:
        """A local folder that holds entries other than `own` (the names a publish writes, and
        its leftover temporary files): publishing there would scatter a store's folders among
        someone else's files. A folder an interrupted publish left (its index not yet written)
        holds only its own names, so publishing there again resumes."""
        folder = self.local_folder()
        if folder is None or not folder.is_dir():
            return False
        return any(
            entry.name not in own and not entry.name.endswith(".tmp") for entry in folder.iterdir()
        )

    def size(self, name: str) -> int | None:
        """The size of `name` on the remote, None if it is not there."""
        fs = self._writable()
        try:
            return int(self._retrying(name, lambda: fs.info(self._path(name))["size"]))
        except NotFound:
            return None

    def holds(self, name: str, size: int, sha256: str, local: Path) -> bool:
        """Whether the remote holds `name` with the bytes of `local` (of this size and sha256),
        so that publishing again repairs a damaged copy (a pull's error says to ask for that):
        in a local folder by its sha256; on an object store, where that would mean downloading
        it, by its size and, where its ETag is one (`_md5_of`), its md5. By its size alone, an
        object of other bytes and the same size was kept, and every pull refused it again."""
        fs = self._writable()
        try:
            info = self._retrying(name, lambda: fs.info(self._path(name)))
        except NotFound:
            return False
        if info.get("size") != size:
            return False
        if not self._is_local():
            md5 = self._md5_of(name, info)
            return md5 is None or _md5(local) == md5
        try:
            return sha256_file(Path(self._path(name))) == sha256
        except (OSError, GenekbError):  # unreadable, or no regular file: write it again
            return False

    def _md5_of(self, name: str, info: dict[str, Any]) -> str | None:
        """The md5 of an S3 object's bytes, where its ETag is one: an object put whole and not
        encrypted with a KMS or customer key (rclone's rule); None where the size must do (a
        multipart upload's ETag ends in -N; GCS's and Azure's name no md5 there)."""
        etag = str(info.get("ETag") or "").strip('"').lower()
        if not re.fullmatch(r"[0-9a-f]{32}", etag) or not {"s3", "s3a"} & self._protocols():
            return None
        bucket, key, _ = self._fs.split_path(self._path(name))
        head = self._retrying(
            name, lambda: self._fs.call_s3("head_object", Bucket=bucket, Key=key)
        )  # fmt: skip
        kms = str(head.get("ServerSideEncryption") or "").startswith("aws:kms")
        return None if kms or head.get("SSECustomerAlgorithm") else etag

    def _no_folder_at(self, name: str) -> None:
        """RemoteError if a local folder remote holds a folder where the file `name` goes."""
        if self._is_local() and Path(self._path(name)).is_dir():
            raise RemoteError(
                f"{self.where(name)}: a folder lies where this file goes; remove it, then publish"
                " again"
            )

    def remove(self, name: str) -> None:
        """Delete `name` if the remote holds it (a signature no longer true of its index)."""
        fs = self._writable()
        self._no_folder_at(name)  # said "a file where a folder must be; give a folder"
        with contextlib.suppress(NotFound):
            self._retrying(name, lambda: fs.rm_file(self._path(name)))

    def put(self, name: str, data: bytes) -> None:
        """Write `name` whole, so no reader sees part of it: on an object store one put (whole or
        absent by itself; a temporary object moved into place cost a copy and a delete, and a
        publish cut between them left the temporary object in the bucket for good), elsewhere a
        temporary name, then renamed into place."""
        fs = self._writable()
        if self._is_object_store():
            # No makedirs: an object store has no folders, and s3fs's makedirs creates a missing
            # bucket, so a misspelt bucket name became a new bucket.
            self._retrying(name, lambda: fs.pipe_file(self._path(name), data))
            return
        self._no_folder_at(name)  # fs.mv moved the file into one, and publish said all was well
        tmp = self._path(f"{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")

        def attempt() -> None:
            parent = self._path(name).rsplit("/", 1)[0]
            if parent and parent != self._path(name):
                fs.makedirs(parent, exist_ok=True)
            fs.pipe_file(tmp, data)
            fs.mv(tmp, self._path(name))

        try:
            self._retrying(name, attempt)
        except NotFound:  # a folder that cannot be made (under /proc, a vanished mount)
            raise RemoteError(
                f"{self.where(name)}: cannot be written there (its folder cannot be made);"
                " publish to a folder you can write"
            ) from None


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)  # an ETag's hash, not a check of trust
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
