"""The signed tags file (tags.json): `{"format", "tags", "sha256"}`, the sha256 of the canonical
tags, so that a hand edit is caught on read. An older store's plain mapping reads as "unsigned"."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genekb.errors import GenekbError, IntegrityError, format_words, is_newer_format
from genekb.fileio import read_regular
from genekb.store.hashing import sha256_json
from genekb.store.ids import tag_problem

TAGS_FORMAT = "genekb-tags/1"
SMALL_FILE_LIMIT = 64 << 20  # bytes of the marker or tags.json read at most (never /dev/zero)


def _json_or_none(path: Path) -> Any:
    """The file's JSON (a regular file, not followed through a link), None where unreadable."""
    try:
        return json.loads(read_regular(path, SMALL_FILE_LIMIT, follow=False))
    except (OSError, GenekbError, ValueError):
        return None


def _refuse_newer(path: Path, data: Any) -> None:
    """IntegrityError where a newer genekb wrote the file: "corrupt; delete it" would lose its
    tags, and re-signing would rewrite them in this version's format."""
    found = data.get("format") if isinstance(data, dict) else None
    if is_newer_format(found, TAGS_FORMAT):
        raise IntegrityError(f"{path} is of {format_words(found, TAGS_FORMAT)}")


def _names_to_ids(tags: Any) -> bool:
    return isinstance(tags, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    )


def read_tags_file(path: Path) -> tuple[dict[str, str], str]:
    """(tags, state): state is "signed" (hash checks), "unsigned" (an older store's plain
    mapping) or "absent"; IntegrityError if the file is corrupt or its hash does not match."""
    if not path.exists():
        return {}, "absent"
    data = _json_or_none(path)
    _refuse_newer(path, data)
    signed = isinstance(data, dict) and data.get("format") == TAGS_FORMAT
    if signed and set(data) != {"format", "tags", "sha256"}:
        data = None  # a signed file holds these three keys and nothing else
    tags = data.get("tags") if signed and data else data
    if not _names_to_ids(tags):
        raise IntegrityError(
            f"{path} is corrupt; delete it and set tags again with `genekb tag NAME VERSION`"
        )
    if signed and data.get("sha256") != sha256_json(tags):
        raise IntegrityError(
            f"{path} does not match its recorded sha256 (edited outside genekb?); check its "
            "tags, then `genekb reindex --resign-tags` records them as they are"
        )
    return tags, "signed" if signed else "unsigned"


def tags_as_they_are(path: Path) -> dict[str, str]:
    """The file's tags whatever its signature says (for re-signing); IntegrityError where they
    are no mapping of names to ids, or where a tag breaks the rule every writer of a tag keeps
    (re-signing it would vouch for a name build, import and pull refuse). A missing file holds
    none."""
    exists = path.exists() or path.is_symlink()
    data = _json_or_none(path) if exists else {}
    _refuse_newer(path, data)
    tags = data.get("tags") if isinstance(data, dict) and "format" in data else data
    if not _names_to_ids(tags):
        raise IntegrityError(f"{path} is corrupt; delete it and set tags again")
    named = next((p for p in map(tag_problem, sorted(tags)) if p), None)
    if named:
        raise IntegrityError(
            f"{path}: refused to re-sign, {named}; `genekb tag --delete NAME` removes it (and"
            f" signs the rest), or rename it in {path} and run `genekb reindex --resign-tags`"
            " again (nothing was changed)"
        )
    return tags


def tags_document(tags: dict[str, str]) -> bytes:
    """The signed file's bytes for `tags`."""
    document = {"format": TAGS_FORMAT, "tags": tags, "sha256": sha256_json(tags)}
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()
