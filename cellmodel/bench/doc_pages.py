"""Writing generated tables into the repository's docs pages, for the experiment drivers in
scripts/: a page regenerated above its hand-written "## Reading" (`write_keeping_reading`,
`print_and_keep_reading`), or one marked section of a page replaced (`replace_section`).
"""

from __future__ import annotations

import re
from pathlib import Path

READING = "\n## Reading\n"


def write_keeping_reading(path: Path, generated: str) -> None:
    """Replace the page with `generated`, keeping the hand-written analysis that follows
    "## Reading" (so regenerating the figures never deletes their interpretation)."""
    existing = path.read_text() if path.exists() else ""
    tail = existing[existing.index(READING) :] if READING in existing else ""
    path.write_text(generated + tail)


def print_and_keep_reading(text: str, out: Path | None) -> None:
    """Print a generated page and, where `out` names one, write it there keeping its Reading."""
    print(text)
    if out:
        write_keeping_reading(out, text)


def replace_section(path: Path, section: str, start: str, end: str) -> None:
    """Replace the page's section from `start` to `end` (markers included: `section` carries its
    own) with `section`, or append it after a blank line when the page has no `start`."""
    text = path.read_text()
    if start in text:
        pattern = re.escape(start) + ".*?" + re.escape(end)
        text = re.sub(pattern, lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text)
