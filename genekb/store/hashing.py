"""Content hashes of JSON-able values and text, and the short ids derived from them.

Files are hashed by `genekb.fileio.sha256_file`.
"""

from __future__ import annotations

import hashlib
import json
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
