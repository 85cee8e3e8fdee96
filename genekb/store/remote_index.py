"""A published store's index: `genekb-remote.json`, the one file a reader fetches first.

    {"format": "genekb-remote/1", "published": ..., "tags": {tag: embedding id},
     "versions": {id: {"kind", "text_id"?, "content_sha256", "n_genes", "dim"?, "model"?,
                       "files": {name: {"sha256", "bytes"}}}},      manifest.json included
     "sha256": sha256 of the canonical JSON of everything above}

The index is a convenience, not a trust anchor: it says what to fetch and how big each file is,
and a file is refused when its bytes disagree with it, but what makes a version acceptable is
the version's own manifest (self-hash, id recomputed from the recipe, every file's sha256, the
content id recomputed from the data), checked after download exactly as `genekb import` checks
an export. A reader also refuses an index that is cut short, fails its own sha256, or names a
file or version outside the store's layout, before fetching anything else.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from genekb.errors import GenekbError, IntegrityError, format_words
from genekb.store.content import CONTENT_KEY
from genekb.store.hashing import nonfinite_at, sha256_json
from genekb.store.ids import VERSION_NAME, tag_problem
from genekb.store.manifest import MANIFEST
from genekb.store.store import EMBEDDINGS, TEXTS

INDEX = "genekb-remote.json"
INDEX_FORMAT = "genekb-remote/1"
PARSE_TAIL = "; refused, nothing fetched"  # how a refusal of the index ends
KIND_DIRS = {"text": TEXTS, "embedding": EMBEDDINGS}
_ID = VERSION_NAME
_FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,200}")
_SHA = re.compile(r"[0-9a-f]{64}")


def version_entry(version: Any) -> dict[str, Any]:
    """The index entry of a checked local version: what a reader needs before fetching it."""
    manifest = version.manifest
    files = {
        n: {"sha256": e["sha256"], "bytes": _size(version.path / n, e.get("bytes"))}
        for n, e in manifest["files"].items()
    }
    raw = (version.path / MANIFEST).read_bytes()
    files[MANIFEST] = {"sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw)}
    entry: dict[str, Any] = {
        "kind": version.kind,
        CONTENT_KEY: manifest.get(CONTENT_KEY),
        "n_genes": (manifest.get("counts") or {}).get("genes"),
        "files": files,
    }
    if version.kind == "embedding":
        entry.update(
            text_id=manifest["text_id"],
            dim=manifest.get("dim"),
            model=(manifest.get("encoder") or {}).get("name"),
        )
    return entry


def _size(file: Any, recorded: Any) -> int:
    """A file's size as its manifest records it, or (a hand-made manifest that records none) as
    the checked file holds it: an index needs one, and refuses an entry without."""
    return recorded if type(recorded) is int else int(file.stat().st_size)


def dump_index(tags: dict[str, str], versions: dict[str, Any], published: str) -> bytes:
    body = {"format": INDEX_FORMAT, "published": published, "tags": tags, "versions": versions}
    where = nonfinite_at(body)
    if where is not None:  # from a local manifest: json would write non-standard `NaN`
        raise GenekbError(
            f"the remote's index would hold a NaN or infinity at {where[:120]!r}, which JSON"
            " has not; nothing indexed: check that version with `genekb verify`"
        )
    whole = {**body, "sha256": sha256_json(body)}
    return json.dumps(whole, indent=1, sort_keys=True, allow_nan=False).encode()


def path_of(kind: str, vid: str, name: str) -> str:
    """Where a version's file lies under the remote's base URL (the store's own layout)."""
    return f"{KIND_DIRS[kind]}/{vid}/{name}"


def parse_index(raw: bytes, where: str) -> dict[str, Any]:
    """The index in `raw`, every field checked; IntegrityError naming the first problem."""

    def refuse(reason: str) -> IntegrityError:
        return IntegrityError(f"{where}: {reason}{PARSE_TAIL}")

    if raw.lstrip()[:1] == b"<":  # a server's 200 with its error, login or proxy page
        raise refuse(
            "an HTML page (an error or login page?), not a genekb index; check the URL: a remote"
            " is the folder or URL `genekb publish` wrote to"
        )
    try:
        data = json.loads(raw, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise refuse(f"it lists {exc.args[0]!r} twice (a version, tag, file or field)") from None
    except (UnicodeDecodeError, ValueError):
        raise refuse("not a JSON document (cut short or damaged)") from None
    except RecursionError:  # `[[[[…` a few thousand deep: json's parser recurses per level
        raise refuse("a JSON document nested deeper than an index ever is") from None
    where = nonfinite_at(data)
    if where is not None:  # publish wrote it back as `NaN`, which other JSON parsers refuse
        raise refuse(f"field {where[:120]!r} holds a NaN or infinity, which JSON has not")
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        found = data.get("format") if isinstance(data, dict) else None
        raise refuse(f"an index of {format_words(found, INDEX_FORMAT)}")
    body = {k: v for k, v in data.items() if k != "sha256"}
    if set(body) != {"format", "published", "tags", "versions"}:
        raise refuse("its fields are not those of an index")
    if data.get("sha256") != sha256_json(body):
        raise refuse("its contents do not match its recorded sha256")
    versions, tags = data["versions"], data["tags"]
    if not isinstance(versions, dict) or not isinstance(tags, dict):
        raise refuse("its versions or tags are not mappings")
    if not _shown_safely(data["published"]):
        raise refuse("its publication time is not a line of plain text")
    for vid, entry in versions.items():
        problem = _entry_problem(vid, entry, versions)
        if problem:
            raise refuse(f"version {vid!r}: {problem}")
    for tag, vid in tags.items():
        problem = tag_problem(tag)  # a remote's tag becomes a local one: the same rule
        if problem:
            raise refuse(problem)
        if not isinstance(vid, str):
            raise refuse(f"tag {tag!r} points at {vid!r}, which is no version id")
        kind = (versions.get(vid) or {}).get("kind")
        if kind == "text":  # it said "which it does not list" of one it lists
            raise refuse(f"tag {tag!r} points at {vid!r}, a text version, where a tag names an"
                         " embedding version")  # fmt: skip
        if kind != "embedding":
            raise refuse(f"tag {tag!r} points at {vid!r}, which it does not list")
    return data


class _DuplicateKey(Exception):
    """A key twice in one JSON object."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; _DuplicateKey where a key comes twice. json keeps the
    last silently, so an index could list a version twice, with other files and hashes in the
    copy a reader of its bytes (or another JSON parser, which may keep the first) takes for it."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKey(key)
        found[key] = value
    return found


def _entry_problem(vid: Any, entry: Any, versions: dict[str, Any]) -> str | None:
    if not isinstance(entry, dict) or entry.get("kind") not in _ID:
        return "not a text or embedding version"
    kind = entry["kind"]
    if not isinstance(vid, str) or not _ID[kind].fullmatch(vid):
        return f"not a {kind} version id"
    if not isinstance(entry.get(CONTENT_KEY), str) or not _SHA.fullmatch(entry[CONTENT_KEY]):
        return "no content sha256"
    files = entry.get("files")
    if not isinstance(files, dict) or MANIFEST not in files:
        return "lists no manifest"
    for name, meta in files.items():
        if not isinstance(name, str) or not _FILE_NAME.fullmatch(name) or ".." in name:
            return f"file name {name!r} is outside the store's layout"
        ok = isinstance(meta, dict) and isinstance(meta.get("sha256"), str)
        ok = ok and bool(_SHA.fullmatch(meta["sha256"]))
        ok = ok and isinstance(meta.get("bytes"), int) and meta["bytes"] >= 0
        if not ok:
            return f"file {name!r} has no sha256 and size"
    problem = _listed_problem(entry)
    if problem:
        return problem
    if kind == "embedding":
        text = versions.get(entry.get("text_id"))
        if not isinstance(text, dict) or text.get("kind") != "text":
            return f"rests on text version {entry.get('text_id')!r}, which the index lacks"
    return None


def _shown_safely(value: Any, limit: int = 200) -> bool:
    """A string `genekb remote ls` may print as it is: a remote is not trusted, and an escape
    sequence in a field it prints would drive the reader's terminal (retitle, clear, hide)."""
    return isinstance(value, str) and len(value) <= limit and value.isprintable()


def _listed_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with the fields `genekb remote ls` lists, which no later check reads."""
    if entry.get("model") is not None and not _shown_safely(entry["model"]):
        return "its encoder name is not a line of plain text"
    for key in ("n_genes", "dim"):
        value = entry.get(key)
        if value is not None and (type(value) is not int or value < 0):
            return f"its {key} is not a count"
    return None
