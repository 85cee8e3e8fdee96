"""The annotate methods: four channels of evidence, and the sums of them a call can be made by.

A method is a channel, a named combination (`COMBINATIONS`), or channels joined by '+'
(`text+markerdb`); a combination standardises each channel's scores per group and sums them
(`score.combine`), so a candidate one channel cannot score is carried by the others.
"""

from __future__ import annotations

from genekb.errors import UsageError

CHANNELS: dict[str, str] = {
    "text": "marker genes' card vectors against the candidates' text (hubness-corrected)",
    "mentions": "how strongly each group expresses the genes the candidate's own text names",
    "processes": "over-representation of the markers among the genes of GO processes that name"
    " the candidate",
    "markerdb": "over-representation of the markers in the CellConsensus marker table",
}
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "knowledge": ("text", "mentions", "processes"),
    "combined": ("text", "mentions", "processes", "markerdb"),
}
METHODS: dict[str, str] = {
    **CHANNELS,
    "knowledge": "text, mentions and processes, each standardised per group, summed (no marker"
    " table)",
    "combined": "all four, each standardised per group, summed",
}


def channels_of(method: str) -> tuple[str, ...]:
    """The channels a method sums: a named method, or channels joined by '+' (text+markerdb)."""
    if method in COMBINATIONS:
        return COMBINATIONS[method]
    parts = tuple(method.split("+"))
    if not all(p in CHANNELS for p in parts) or len(set(parts)) != len(parts):
        raise UsageError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)},"
            " or channels joined by '+'"
        )
    return parts
