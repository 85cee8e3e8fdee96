"""Size rule for library and CLI code: no function over 80 lines, no CLI command over 40.

A function's lines run from its `def` to its last line (signature, docstring and comments
included; decorators not). A CLI command is a function decorated with `<app>.command(...)` or
registered as `<app>.command(...)(function)`. Tests and scripts/ are not measured.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cellmodel", "genekb", "cli")
FUNCTION_LIMIT = 80
COMMAND_LIMIT = 40

# Functions allowed over their limit, with their lengths. The list is empty and may not grow: split
# a long function into short private helpers instead of listing it.
ALLOWED: dict[str, int] = {}


def _registered_commands(tree: ast.Module) -> set[str]:
    """Names passed to `<app>.command(...)(name)`."""
    return {
        arg.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Call)
        and isinstance(node.func.func, ast.Attribute)
        and node.func.func.attr == "command"
        for arg in node.args
        if isinstance(arg, ast.Name)
    }


def _is_command(node: ast.FunctionDef | ast.AsyncFunctionDef, registered: set[str]) -> bool:
    decorated = any(
        isinstance(d, ast.Call) and isinstance(d.func, ast.Attribute) and d.func.attr == "command"
        for d in node.decorator_list
    )
    return decorated or node.name in registered


def measure(path: Path) -> list[tuple[str, int, bool]]:
    """(qualified name, lines, is a CLI command) of every function in `path`, nested ones too."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    registered = _registered_commands(tree)
    found: list[tuple[str, int, bool]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = child.end_lineno - child.lineno + 1
                found.append((prefix + child.name, lines, _is_command(child, registered)))
                walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")

    walk(tree, "")
    return found


def too_long() -> dict[str, int]:
    """Every library or CLI function over its limit, keyed like `ALLOWED`."""
    over = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for name, lines, command in measure(path):
                if lines > (COMMAND_LIMIT if command else FUNCTION_LIMIT):
                    over[f"{path.relative_to(ROOT).as_posix()}:{name}"] = lines
    return over


def test_measure_counts_def_to_last_line_and_finds_commands(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "@app.command()\ndef a():\n    pass\n\n"
        "class C:\n    def b(self):\n        def inner():\n            pass\n        return 1\n"
        "def c():\n    pass\napp.command('c')(c)\n"
    )
    assert measure(source) == [
        ("a", 2, True), ("C.b", 4, False), ("C.b.inner", 2, False), ("c", 2, True)
    ]  # fmt: skip


def test_no_new_long_function():
    new = {name: n for name, n in too_long().items() if name not in ALLOWED}
    assert not new, (
        f"over {FUNCTION_LIMIT} lines (CLI commands: {COMMAND_LIMIT}); split into short helpers: "
        + "; ".join(f"{name} ({n} lines)" for name, n in sorted(new.items()))
    )


def test_the_allow_list_only_shrinks():
    over = too_long()
    grown = {name: over[name] for name in ALLOWED if name in over and over[name] > ALLOWED[name]}
    assert not grown, "listed functions grew: " + "; ".join(
        f"{name} {ALLOWED[name]} -> {n} lines" for name, n in sorted(grown.items())
    )
    fixed = sorted(name for name in ALLOWED if name not in over)
    assert not fixed, "within the limit now (or gone); remove from ALLOWED: " + ", ".join(fixed)
