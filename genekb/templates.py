"""Text templates: a gene record in, one text out. Each has an id and a version that text ids hash.

Bump a template's version whenever its output changes, so old text versions stay reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from genekb.errors import UnknownNameError

DEFAULT_TEMPLATE = "ncbi-card"
# GO annotation lists run to hundreds of terms for hub genes; the leading ones (sorted by the
# source) are kept so most cards fit a 256-token encoder and truncation stays rare.
MAX_GO_TERMS = 12


def _terms(values: Sequence[str] | None, limit: int = MAX_GO_TERMS) -> str:
    values = list(values) if values is not None else []
    shown = "; ".join(values[:limit])
    return shown + (f"; and {len(values) - limit} more" if len(values) > limit else "")


def _clean(value: Any) -> str:
    return "" if value is None else str(value).strip()


def ncbi_card(g: dict[str, Any]) -> str:
    """The default: identity first, then what the gene does (summary, GO process/function/place)."""
    lines = [f"{g['symbol']}: {_clean(g.get('name')) or 'uncharacterized gene'}."]
    if g.get("aliases") is not None and len(g["aliases"]):
        lines.append(f"Also known as {', '.join(g['aliases'][:8])}.")
    kind = _clean(g.get("gene_type"))
    loc = _clean(g.get("map_location"))
    if kind or loc:
        lines.append(
            " ".join(
                p
                for p in (f"Type: {kind}." if kind else "", f"Location: {loc}." if loc else "")
                if p
            )
        )
    if _clean(g.get("summary")):
        lines.append(f"Summary: {_clean(g['summary'])}")
    for label, key in (("Process", "go_bp"), ("Function", "go_mf"), ("Component", "go_cc")):
        if g.get(key) is not None and len(g[key]):
            lines.append(f"{label}: {_terms(g[key])}.")
    return "\n".join(lines)


def genept_summary(g: dict[str, Any]) -> str:
    """GenePT-style: the NCBI summary leads; name and GO terms stand in where it is absent."""
    head = f"{g['symbol']} ({_clean(g.get('name')) or 'uncharacterized gene'})"
    if _clean(g.get("summary")):
        return f"{head}. {_clean(g['summary'])}"
    go = [t for key in ("go_bp", "go_mf") for t in (g.get(key) if g.get(key) is not None else [])]
    return f"{head}. Functions: {_terms(go)}." if go else f"{head}."


def key_value(g: dict[str, Any]) -> str:
    """scLLM-DSC-style key: value fields, one per line."""
    fields = [
        ("gene_symbol", g["symbol"]),
        ("full_name", _clean(g.get("name"))),
        ("gene_type", _clean(g.get("gene_type"))),
        ("aliases", ", ".join(g["aliases"]) if g.get("aliases") is not None else ""),
        ("map_location", _clean(g.get("map_location"))),
        ("summary", _clean(g.get("summary"))),
        ("go_biological_process", _terms(g.get("go_bp"))),
        ("go_molecular_function", _terms(g.get("go_mf"))),
        ("go_cellular_component", _terms(g.get("go_cc"))),
    ]
    return "\n".join(f"{k}: {v}" for k, v in fields if v)


def summary_view(g: dict[str, Any]) -> str:
    """The summary view of a multi-view version: identity and the RefSeq/NCBI summary alone."""
    head = f"{g['symbol']}: {_clean(g.get('name')) or 'uncharacterized gene'}."
    return f"{head} {_clean(g.get('summary'))}".strip()


def go_view(g: dict[str, Any]) -> str:
    """The GO view: identity and every GO term (no cap: long lists are embedded in windows)."""
    lines = [f"{g['symbol']}: {_clean(g.get('name')) or 'uncharacterized gene'}."]
    for label, key in (("Process", "go_bp"), ("Function", "go_mf"), ("Component", "go_cc")):
        if g.get(key) is not None and len(g[key]):
            lines.append(f"{label}: {'; '.join(g[key])}.")
    return "\n".join(lines)


def given_text(g: dict[str, Any]) -> str:
    """The text a caller wrote into `summary` itself (e.g. Cell Ontology term texts): verify can
    still render it again, since the stored row carries it."""
    return str(g.get("summary") or "")


def name_only(g: dict[str, Any]) -> str:
    """Symbol and full name alone: a control for how much the annotations add."""
    return f"{g['symbol']}: {_clean(g.get('name')) or 'uncharacterized gene'}"


@dataclass(frozen=True)
class Template:
    id: str
    version: int
    description: str
    render: Callable[[dict[str, Any]], str]

    def key(self) -> dict[str, Any]:
        return {"id": self.id, "version": self.version}


TEMPLATES: dict[str, Template] = {
    t.id: t
    for t in (
        Template(
            "ncbi-card", 1, "symbol, name, aliases, type, location, summary, GO terms", ncbi_card
        ),
        Template("genept-summary", 1, "GenePT-style: NCBI summary first", genept_summary),
        Template("kv", 1, "scLLM-DSC-style key: value fields", key_value),
        Template("name-only", 1, "symbol and full name only (control)", name_only),
        Template("summary", 1, "view: symbol, name and summary only", summary_view),
        Template("go-terms", 1, "view: symbol, name and every GO term", go_view),
    )
}


# Not a gene template (so not a choice of `genekb build`): texts a caller wrote itself, such as
# the Cell Ontology's term texts that annotate keeps as a version; verify renders them back.
GIVEN_TEXT = Template(
    "given-text", 1, "the caller's own text, kept in the summary field", given_text
)
# Every template a stored version may name.
KNOWN: dict[str, Template] = {**TEMPLATES, GIVEN_TEXT.id: GIVEN_TEXT}


def resolve(template_id: str) -> Template:
    if template_id not in TEMPLATES:
        raise UnknownNameError("template", template_id, list(TEMPLATES))
    return TEMPLATES[template_id]


def render(template_id: str, records: Sequence[dict[str, Any]]) -> list[str]:
    fn = resolve(template_id).render
    return [fn(r) for r in records]
