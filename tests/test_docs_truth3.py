"""A new user following the docs literally (the third sweep): the Python blocks of the README and
the main pages call names and keywords that exist, and the API reference names the version
`gk.eval` and `gk.similar` read when none is named."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import cellmodel as cm
import genekb as gk
from genekb.api import default_ref, evaluate
from genekb.build import build
from genekb.errors import GenekbError
from genekb.store.store import Store
from tests.conftest import make_genes, one_line_error, run_genekb

REPO = Path(__file__).resolve().parents[1]
PAGES = ["README.md", "docs/index.md", "docs/cellmodel.md", "docs/genekb.md", "docs/sharing.md",
         "docs/api.md", "docs/first_run.md"]  # fmt: skip
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DOTTED = re.compile(r"`((?:genekb|cellmodel)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)")  # `genekb.x.y`


def _python_blocks(page: str) -> list[str]:
    """Each ```python block of `page`, a doctest's `>>>`/`...` lines as the code they hold."""
    blocks = []
    for block in BLOCK.findall((REPO / page).read_text()):
        if ">>>" in block:
            kept = (ln[4:] for ln in block.splitlines() if ln.startswith((">>> ", "... ")))
            block = "\n".join(kept)
        blocks.append(block)
    return blocks


def _resolve(node: ast.AST) -> Any:
    """The object `cm.x.y` / `gk.x` names, None for other names, KeyError when one is missing."""
    if isinstance(node, ast.Name):
        return {"cm": cm, "gk": gk}.get(node.id)
    if isinstance(node, ast.Attribute):
        base = _resolve(node.value)
        if base is None:
            return None
        if not hasattr(base, node.attr):
            raise KeyError(ast.unparse(node))
        return getattr(base, node.attr)
    return None


def _call_problems(call: ast.Call) -> list[str]:
    try:
        func = _resolve(call.func)
    except KeyError as missing:
        return [f"no {missing}"]
    if not callable(func) or isinstance(func, type):
        return []
    names = [k.arg for k in call.keywords if k.arg]
    try:
        inspect.signature(func).bind(*call.args, **dict.fromkeys(names))
    except TypeError as e:
        return [f"{ast.unparse(call.func)}: {e}"]
    return []


def test_the_pages_python_calls_use_names_and_keywords_that_exist() -> None:
    problems, calls = [], 0
    for page in PAGES:
        for block in _python_blocks(page):
            for node in ast.walk(ast.parse(block)):
                if isinstance(node, ast.Attribute):
                    try:
                        _resolve(node)
                    except KeyError as missing:
                        problems.append(f"{page}: no {missing}")
                if isinstance(node, ast.Call) and _resolve(node.func) is not None:
                    calls += 1
                    problems += [f"{page}: {p}" for p in _call_problems(node)]
    assert calls > 30  # the blocks are still found and read
    assert not problems


def test_the_reference_names_the_tag_read_when_no_version_is_named() -> None:
    # gk.eval's reference said it read "the default minilm tag", default_ref's
    # `human/ncbi-card/minilm`; it reads `human/ncbi-card/minilm+tfidf-lsa`, and a store built
    # as the README builds it (model="minilm") was refused naming a tag the page never showed.
    tag = default_ref()
    assert tag == "human/ncbi-card/minilm+tfidf-lsa"
    assert f"`{tag}`" in (default_ref.__doc__ or "")
    assert f"`{tag}`" in (evaluate.__doc__ or "")  # gk.eval: a module calling it
    section = (REPO / "docs/api.md").read_text().split("### `gk.eval(")[1].split("###")[0]
    assert f"`{tag}`" in section and 'refs="human/ncbi-card/minilm"' in section


def test_each_reference_heading_names_what_a_session_has() -> None:
    # The settings' heading read `gk.settings.Settings()`: gk.settings is the instance, and
    # `gk.settings.Settings` an AttributeError.
    headings = re.findall(r"^### `([^`(]+)", (REPO / "docs/api.md").read_text(), re.M)
    assert len(headings) > 20 and "gk.settings" in headings
    missing = []
    for name in headings:
        try:
            found = _resolve(ast.parse(name, mode="eval").body)
        except KeyError:
            found = None
        if found is None:
            missing.append(name)
    assert not missing


def _importable(dotted: str) -> bool:
    """Whether `a.b.c` names a module, or a module's attribute path."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            if not hasattr(found, attr):
                return False
            found = getattr(found, attr)
        return True
    return False


def test_the_pages_module_paths_name_code_that_exists() -> None:
    # `genekb.output_paths` split from `genekb.fileio` today: a page naming a function where it
    # was sends a reader to grep for nothing.
    names = {
        n
        for page in [*PAGES, "docs/tutorial.py", "docs/integrity.md", "docs/scale.md"]
        for n in DOTTED.findall((REPO / page).read_text())
    }
    assert len(names) > 10
    assert not sorted(n for n in names if not _importable(n))


def test_a_store_without_the_default_tag_says_how_to_name_a_version(tmp_path) -> None:
    # The README's Python builds `model="minilm"`; its command lines then run `genekb similar
    # CD3E` and the reference `gk.eval("artifacts", ...)`, which read the default build's tag
    # and were refused as "no embedding version 'human/ncbi-card/minilm+tfidf-lsa'", with no
    # word of --ref / --model / refs=.
    store = Store.open(tmp_path / "s", create=True)
    build(store, model="fake", gene_table=make_genes(20), tag="t0")
    line = one_line_error(run_genekb("similar", "GENE1", "--root", str(store.root)))
    assert "known: t0" in line and "--ref" in line and "--model" in line
    line = one_line_error(run_genekb("eval", "--root", str(store.root)))
    assert "known: t0" in line and "genekb eval REF" in line
    with pytest.raises(GenekbError, match=r"known: t0; name one: `genekb eval REF` \(refs="):
        gk.eval(store.root, ["dosage-tfs"], seeds=1)
    with pytest.raises(
        GenekbError, match="known: t0; name one with ref=, or its encoder with model="
    ):
        gk.similar(store.root, "GENE1")
