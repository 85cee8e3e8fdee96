"""Shared by the experiment scripts: write a generated table into a docs page."""

from __future__ import annotations

from pathlib import Path

READING = "\n## Reading\n"


def write_keeping_reading(path: Path, generated: str) -> None:
    """Replace the page with `generated`, keeping the hand-written analysis that follows
    "## Reading" (so regenerating the figures never deletes their interpretation)."""
    existing = path.read_text() if path.exists() else ""
    tail = existing[existing.index(READING) :] if READING in existing else ""
    path.write_text(generated + tail)
