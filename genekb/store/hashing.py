"""Content hashes of JSON-able values and text, and the short ids derived from them.

Files are hashed by `genekb.fileio.sha256_file`.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def short_id(prefix: str, value: Any) -> str:
    """`prefix-` plus 16 hex digits (64 bits) of the canonical JSON hash of `value`."""
    return f"{prefix}-{sha256_json(value)[:16]}"


def nonfinite_at(value: Any) -> str | None:
    """Where in JSON-able `value` a NaN or infinity lies ("versions.emb-….note", "[3]"), None
    where none does. JSON has no such numbers: Python's json reads `NaN` and `1e999` as floats
    and writes them back as `NaN`, which other JSON parsers refuse."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:  # no recursion: a document may nest as deep as json's parser allowed
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where or "the document itself"
        if isinstance(item, dict):
            stack += [(v, f"{where}.{k}" if where else str(k)) for k, v in item.items()]
        elif isinstance(item, list):
            stack += [(v, f"{where}[{i}]") for i, v in enumerate(item)]
    return None
