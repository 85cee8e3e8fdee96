"""The API reference of the Python session's names (docs/api.md), rendered from their docstrings,
and the check that every public function carries one with an `Examples` section
(`scripts/make_api_docs.py` writes the page; tests/test_api_docs.py fails on a stale page or a
missing example)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]  # docs/ of the checkout this module is in
TARGET = REPO / "docs" / "api.md"
# (heading, how a user writes the namespace, the module that holds the names, its public names)
SECTIONS = [
    ("cm.pp: reading and normalizing", "cm.pp", "cellmodel.pp", None),
    ("cm.tl: the steps of a run", "cm.tl", "cellmodel.tl", None),
    ("cm.pl: pictures of a run", "cm.pl", "cellmodel.pl", None),
    ("gk: stores", "gk", "genekb.api", ["build", "similar", "evaluate", "tag", "remove", "gc"]),
    ("gk.pl: pictures of a store", "gk.pl", "genekb.pl", None),
    ("Settings", "gk", "genekb.settings", ["Settings"]),
]
SHOWN_AS = {
    ("genekb.api", "evaluate"): "eval",  # gk.eval is the callable genekb.eval package
    ("genekb.settings", "Settings"): "settings",  # the one instance, also cm.settings
}
# Classes a user meets as one instance: shown by the instance's name, with no signature (the
# page said `gk.settings.Settings()`, a name no session has)
INSTANCES = {("genekb.settings", "Settings")}


def public(module_name: str, names: list[str] | None) -> list[tuple[str, Any]]:
    module = importlib.import_module(module_name)
    return [(n, getattr(module, n)) for n in (names or module.__all__)]


def problems() -> list[str]:
    """Public functions without a docstring or without an Examples section."""
    found = []
    for _, prefix, module_name, names in SECTIONS:
        for name, obj in public(module_name, names):
            doc = inspect.getdoc(obj) or ""
            where = f"{prefix}.{SHOWN_AS.get((module_name, name), name)}"
            if not doc.strip():
                found.append(f"{where}: no docstring")
            elif "Examples\n--------" not in doc:
                found.append(f"{where}: no Examples section")
    return found


def _signature(obj: Any) -> str:
    try:
        return str(inspect.signature(obj)).replace(" -> 'Any'", "").replace(" -> Any", "")
    except (TypeError, ValueError):
        return "(...)"


def render() -> str:
    lines = [
        "# API reference",
        "",
        "Generated from the docstrings by `scripts/make_api_docs.py` (`cellmodel.api_reference`;"
        " do not edit by hand: tests/test_api_docs.py fails when this page is stale or a public"
        " function lacks a docstring example). `import cellmodel as cm` and `import genekb as"
        " gk`; the tutorial (docs/tutorial.py) runs them end to end.",
        "",
    ]
    for heading, prefix, module_name, names in SECTIONS:
        lines += [f"## {heading}", ""]
        for name, obj in public(module_name, names):
            shown = SHOWN_AS.get((module_name, name), name)
            called = "" if (module_name, name) in INSTANCES else _signature(obj)
            lines += [f"### `{prefix}.{shown}{called}`", ""]
            lines += [_markdown(inspect.getdoc(obj) or ""), ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown(doc: str) -> str:
    """A numpydoc docstring as Markdown: the Examples section as a code block."""
    text, _, examples = doc.partition("Examples\n--------")
    out = text.strip()
    if examples.strip():
        out += "\n\n**Examples**\n\n```python\n" + examples.strip("\n") + "\n```"
    return out
