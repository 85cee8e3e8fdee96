"""What the classify and clustering screens in scripts/ share: each registry dataset's labelled
split for the classify experiments (`CLASSIFY_SPLITS`, the keywords of `cellmodel.classify.split`)
and the reading of a screen's `key=value` settings from its command line (`parse_value`)."""

from __future__ import annotations

from typing import Any

CLASSIFY_SPLITS: dict[str, dict[str, Any]] = {
    "baron-human": {"train_fraction": 0.1},
    "pbmc68k-reduced": {"train_fraction": 0.1},
    # Four of its 16 classes hold 5 cells or fewer: they train on all but one of their cells.
    "wu2020-200": {"per_class": 5, "small_classes": "cap"},
    # Held out from every design choice of the classifier: only ever scored.
    "baron-mouse": {"train_fraction": 0.1},
}


def parse_value(text: str) -> Any:
    """A setting's value as typed: None, a bool ("true"/"false", any case), an int, a float, or
    else the text itself."""
    lowered = text.lower()
    if lowered == "none":
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text
