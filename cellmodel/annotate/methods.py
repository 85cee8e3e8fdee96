"""The annotate methods: four channels of evidence, a dataset-wide prior, and the sums of them a
call can be made by.

A method is a channel, a named combination (`COMBINATIONS`), or channels joined by '+'
(`text+markerdb`); a combination standardises each channel's scores per group and sums them
(`score.combine`), so a candidate one channel cannot score is carried by the others, counted
there as showing no evidence. The default (`combined`) weighs the marker table and the knowledge
by their own margins for a user's list instead (`fusion`). The `context` prior (`score.context`)
ranks the candidates the same way for every group, so it enters sums but is no method of its own.
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
# Channels whose 0 means no evidence (named genes expressed as in the rest of the data; no
# significant overlap): summed from that 0, not from their mean (`score.combine`).
NATURAL_ZERO: frozenset[str] = frozenset({"mentions", "processes", "markerdb"})
CONTEXT = "context"
PRIORS: dict[str, str] = {
    CONTEXT: "how well the data's groups as a whole fit the candidate's text (the mean of its text"
    " scores over the groups): what the data as a whole resemble; only over the whole Cell"
    " Ontology (a user's list, a tissue or a subtree is already restricted)",
}
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "knowledge": ("text", "mentions", "processes", CONTEXT),
    "combined": ("text", "mentions", "processes", "markerdb", CONTEXT),
}
METHODS: dict[str, str] = {
    **CHANNELS,
    "knowledge": "text, mentions and processes, with the context prior, each standardised per"
    " group, summed (no marker table)",
    "combined": "for a user's list, the marker table (significant overlaps only) and the"
    " knowledge, each weighted per group by its own margin; over the Cell Ontology all four with"
    " the context prior, each standardised per group, summed",
}


def channels_of(method: str) -> tuple[str, ...]:
    """The channels a method sums: a named method, or channels joined by '+' (text+markerdb,
    text+context); the context prior only beside a channel."""
    if method in COMBINATIONS:
        return COMBINATIONS[method]
    parts = tuple(method.split("+"))
    known = all(p in CHANNELS or p in PRIORS for p in parts)
    if not known or len(set(parts)) != len(parts) or all(p in PRIORS for p in parts):
        raise UsageError(
            f"unknown method {method!r}; choose one of {', '.join(METHODS)},"
            f" or channels joined by '+' (with {', '.join(PRIORS)} beside them)"
        )
    return parts
