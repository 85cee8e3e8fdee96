"""A published store read in place: `Store.open("https://…")`, read-only.

The store's listing and tags come from the remote's index; a version's files are fetched the
first time a call needs that version, into a local cache that is itself a store
(`$GENEKB_CACHE/remotes/<hash of the URL>`, default `~/.cache/genekb`), with every check a pull
makes (`genekb.store.pull`). A file is fetched whole because its sha256 covers it whole: reading
part of a file could not be checked. After that, reads are local reads, each checked against the
version's manifest as in any store. A call that needs one version (`similar`, vectors of a few
genes) fetches that version and its text version and nothing else; SQL over the catalog needs
them all.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, add_note
from genekb.store.pull import damaged_here, download, install, read_index
from genekb.store.pull_cache import PULL_LOCK
from genekb.store.remote_index import INDEX
from genekb.store.remote_io import Remote
from genekb.store.signing import public_key, remote_signer
from genekb.store.store import Store


def is_url(root: Any) -> bool:
    """A store root given as a URL (`scheme://…`) rather than a local directory."""
    return isinstance(root, str) and "://" in root


def cache_home() -> Path:
    return Path(os.environ.get("GENEKB_CACHE") or Path.home() / ".cache" / "genekb").expanduser()


class RemoteStore(Store):
    """A read-only view of a remote store, reading through a verified local cache."""

    def __init__(self, url: str, cache: Path, remote: Remote, index: dict[str, Any]) -> None:
        super().__init__(cache)
        self.url, self._remote, self._index = url, remote, index
        try:
            self._local = Store.open(cache, create=True)  # writes only what the cache fetches
        except GenekbError as exc:
            raise _cache_noted(exc) from None

    @classmethod
    def open_url(
        cls,
        url: str,
        cache: Path | None = None,
        timeout: float = 30.0,
        trust: list[str] | None = None,
    ) -> RemoteStore:
        """The store published at `url`; with `trust` (public keys), only if one of them signed
        its index, which every later fetch is then checked against."""
        trusted = [public_key(spec) for spec in trust or []]
        remote = Remote(url, timeout=timeout)
        raw, index = read_index(remote)
        if trusted:
            remote_signer(remote, INDEX, raw, trusted)
        key = hashlib.sha256(remote.url.encode()).hexdigest()[:16]
        return cls(remote.url, (cache or cache_home() / "remotes") / key, remote, index)

    @property
    def place(self) -> str:
        return self.url

    @property
    def fetched_bytes(self) -> int:
        return self._remote.fetched_bytes

    def _ids(self, kind: str) -> list[str]:
        return sorted(v for v, e in self._index["versions"].items() if e["kind"] == kind)

    def has(self, kind: str, vid: str) -> bool:
        return self._index["versions"].get(vid, {}).get("kind") == kind

    def read_tags(self) -> tuple[dict[str, str], str]:
        return dict(self._index["tags"]), "signed"

    def _load(self, kind: str, vid: str) -> Any:
        text_id = self._index["versions"][vid].get("text_id")  # an embedding's genes
        wanted = [("text", text_id)] if text_id else []
        # A damaged cached copy is fetched again: it failed every later read, and its advice
        # (`genekb build`, `import --replace-damaged`) was for a store of one's own.
        if any(self._stale(k, v) for k, v in [*wanted, (kind, vid)]):
            try:  # another process reading this URL shares the cache: one fetches at a time
                with self._local.lock(PULL_LOCK):
                    plan = [(k, v) for k, v in [*wanted, (kind, vid)] if self._stale(k, v)]
                    download(self._local, self._remote, self._index, plan)
                    install(self._local, self.url, self._index, plan, {}, replace_damaged=True)
            except GenekbError as exc:
                raise _cache_noted(exc) if self._local.is_new else exc from None  # not made
        return super()._load(kind, vid)

    def _stale(self, kind: str, vid: str) -> bool:
        return not self._local.has(kind, vid) or damaged_here(self._local, kind, vid)

    def verify(self, refs: Any = None, rewrite_catalog: Any = None) -> list[dict[str, Any]]:
        """Fetch (checked) every version the index lists, then re-hash them in the cache."""
        for kind in ("text", "embedding"):
            for vid in self._ids(kind):
                self._load(kind, vid)
        return super().verify(refs, None)

    def _refuse_write(self, *_: Any, **__: Any) -> Any:
        raise GenekbError(
            f"{self.url} is a remote store, read-only here; `genekb pull {self.url}` copies its "
            "versions into a local store you can write"
        )

    lock = staging_dir = set_tags = resign_tags = _refuse_write  # type: ignore[assignment]

    @contextlib.contextmanager
    def tagging(self, changes: dict[str, str], *, force: bool = True) -> Iterator[None]:
        self._refuse_write()
        yield


Store.url_opener = RemoteStore.open_url


def _cache_noted(exc: GenekbError) -> GenekbError:
    """`exc`, a failure to make the cache, with where the cache lies and how to move it: the
    message named a folder the user never chose."""
    add_note(exc, f"the cache of remote stores lies in $GENEKB_CACHE ({cache_home()}): set"
                  " GENEKB_CACHE to a folder you can write")  # fmt: skip
    return exc


def remote_listing(url: str, timeout: float = 30.0) -> dict[str, Any]:
    """What a remote holds, from its index alone (`genekb remote ls`)."""
    remote = Remote(url, timeout=timeout)
    raw, index = read_index(remote)
    signed_by = remote_signer(remote, INDEX, raw, None)  # named, not trusted: anyone has a key
    tags_of: dict[str, list[str]] = {}
    for tag, vid in index["tags"].items():
        tags_of.setdefault(vid, []).append(tag)
    rows = []
    for vid, entry in sorted(index["versions"].items(), key=lambda kv: (kv[1]["kind"], kv[0])):
        rows.append(
            {
                "id": vid,
                "kind": entry["kind"],
                "tags": sorted(tags_of.get(vid, [])),
                "text_id": entry.get("text_id"),
                "model": entry.get("model"),
                "dim": entry.get("dim"),
                "n_genes": entry.get("n_genes"),
                "content_sha256": entry["content_sha256"],
                "bytes": sum(f["bytes"] for f in entry["files"].values()),
            }
        )
    return {"remote": remote.url, "published": index["published"], "signed_by": signed_by,
            "versions": rows, "tags": dict(sorted(index["tags"].items()))}  # fmt: skip
