"""The layout's rules, read statically from the source: no import circle anywhere in cellmodel,
genekb or cli, and imports point one way, cli -> cellmodel -> genekb.

Every import counts, at module top or inside a function: circles hide in function bodies, where
they do not fail at import time, and are a design fault whether or not Python survives them.
Imports under `if TYPE_CHECKING:` never run and only name a type (a version names the `Store` it
came from), so the circle rule leaves them out; the direction rule counts them too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("cellmodel", "genekb", "cli")
# Which top-level packages each may import: cli -> cellmodel -> genekb, nothing back up.
ALLOWED = {"cli": {"cli", "cellmodel", "genekb"}, "cellmodel": {"cellmodel", "genekb"},
           "genekb": {"genekb"}}  # fmt: skip


def module_files() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _absolute(name: str, level: int, here: str, is_package: bool) -> str:
    """The absolute module a (possibly relative) `from` names."""
    if level == 0:
        return name
    base = here.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _type_checking_blocks(tree: ast.Module) -> set[int]:
    """ids of the nodes inside `if TYPE_CHECKING:` (or `typing.TYPE_CHECKING`) blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return inside


def imports_of(
    name: str, path: Path, modules: dict[str, Path], *, typing_only: bool = True
) -> set[str]:
    """The project modules `name` imports, anywhere in its file (with typing_only=False, not
    those under `if TYPE_CHECKING:`).

    `from pkg import x` points at the module `pkg.x` where that is a module, else at `pkg`;
    `import a.b.c` points at the deepest of a.b.c, a.b, a that is a project module.
    """
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    skip = set() if typing_only else _type_checking_blocks(tree)
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node.module or "", node.level, name, is_package)
            candidates = [
                f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                for alias in node.names
            ]
        else:
            continue
        for candidate in candidates:
            parts = candidate.split(".")
            while parts and ".".join(parts) not in modules:
                parts.pop()
            if parts and ".".join(parts) != name:
                targets.add(".".join(parts))
    return targets


def import_graph(*, typing_only: bool = True) -> dict[str, set[str]]:
    modules = module_files()
    return {
        name: imports_of(name, path, modules, typing_only=typing_only)
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Each strongly connected component of two or more modules: one closed path through it,
    then the component's other modules (those on other circles through the same start)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph is a few hundred nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    found = []
    for component in components:
        path = _closed_path(graph, component)
        found.append(path + sorted(set(component) - set(path)))
    return found


def _closed_path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One circle inside a strongly connected component, start to start, for the message."""
    inside = set(component)
    start = component[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:  # breadth first, so the circle named is a shortest one through `start`
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & inside):
                if nxt == start:
                    return [*paths[node], start]
                if nxt not in paths:
                    paths[nxt] = [*paths[node], nxt]
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    return component


def test_the_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert len(graph) > 100
    # imported only inside a function body today; the walk must still see it
    assert "cellmodel.datasets" in graph["cellmodel.bench.data"]
    assert "genekb.store.store" in graph["genekb.store.catalog"]


def test_type_checking_imports_are_told_apart(tmp_path):
    source = tmp_path / "m.py"
    source.write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from genekb.store import store\n"
        "def f():\n    from genekb import errors\n"
    )
    modules = {"m": source, "genekb.store.store": source, "genekb.errors": source}
    assert imports_of("m", source, modules) == {"genekb.store.store", "genekb.errors"}
    assert imports_of("m", source, modules, typing_only=False) == {"genekb.errors"}


def test_cycles_are_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "x"}, "b": {"a"}, "x": {"b"}}) == [["a", "b", "a", "x"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def _describe(found: list[str]) -> str:
    end = found.index(found[0], 1) + 1
    rest = found[end:]
    return " -> ".join(found[:end]) + (f" (also in the circle: {', '.join(rest)})" if rest else "")


def test_no_import_cycle():
    found = cycles(import_graph(typing_only=False))
    assert not found, "import circles: " + "; ".join(_describe(c) for c in found)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package):
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in import_graph().items()
        if name.split(".")[0] == package
        for target in targets
        if target.split(".")[0] not in ALLOWED[package]
    )
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: " + "; ".join(wrong)


def _script_names() -> set[str]:
    return {path.stem for path in (ROOT / "scripts").glob("*.py")}


def test_nothing_loads_a_script():
    """scripts/ holds one-off drivers: neither the package nor a test imports one or loads one by
    path (product logic lives in the package, where tests import it as a module)."""
    scripts = _script_names()
    wrong = []
    for folder in (*PACKAGES, "tests"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # this test reads scripts/ as text, to check them
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                if any(n.split(".")[0] in scripts | {"scripts"} for n in names):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {names}")
                if isinstance(node, ast.Constant) and node.value == "scripts":
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} names the scripts/ path")
    assert not wrong, "; ".join(wrong)


def _dotted(node: ast.expr) -> str | None:
    """`a.b.c` for a chain of names, else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([node.id, *reversed(parts)])


def _bound_modules(tree: ast.Module, modules: set[str]) -> dict[str, str]:
    """Names a file binds to modules by its imports: `import a.b` binds a, `import a.b as c` and
    `from a import b` (where a.b is in `modules`) bind c and b to a.b."""
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if f"{node.module}.{alias.name}" in modules:
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return bound


def private_uses(path: Path, modules: set[str]) -> list[str]:
    """Private names (`_x`, not `__x__`) a file takes: `from m import _x` from any module but
    __future__, and `import m._x` or `m._x` (m bound by an import) from one of `modules`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    bound = _bound_modules(tree, modules)

    def private(name: str) -> bool:
        return name.startswith("_") and not name.endswith("__")

    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module != "__future__":
            names = [f"{node.module}.{a.name}" for a in node.names if private(a.name)]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names if private(a.name.rsplit(".", 1)[-1])]
            names = [n for n in names if n.rsplit(".", 1)[0] in modules]
        elif isinstance(node, ast.Attribute) and private(node.attr):
            head, _, rest = (_dotted(node.value) or "").partition(".")
            module = ".".join(filter(None, [bound[head], rest])) if head in bound else ""
            names = [f"{module}.{node.attr}"] if module in modules else []
        else:
            continue
        found += [f"{node.lineno} {name}" for name in names]
    return found


def _project_and_script_modules() -> set[str]:
    return set(module_files()) | _script_names()


def test_private_uses_are_found(tmp_path):
    source = tmp_path / "s.py"
    source.write_text(
        "import numpy as np\nimport pkg.mod as m\nfrom pkg import mod\nimport sibling\n"
        "from pkg.mod import _a, b\nfrom other import _b\nimport pkg.mod._c\n"
        "m._d(); mod._e; sibling._f; np._g; mod.__doc__; pkg.mod._h; x._i; m.ok\n"
    )
    found = private_uses(source, {"pkg", "pkg.mod", "sibling"})
    assert sorted(f.split(" ", 1)[1] for f in found) == [
        "other._b", "pkg.mod._a", "pkg.mod._c", "pkg.mod._d", "pkg.mod._e", "pkg.mod._h",
        "sibling._f",
    ]  # fmt: skip


def test_scripts_import_only_public_names():
    """A script uses only the public names of the package's modules and of other scripts, so a
    module's private helpers can change without a one-off driver breaking."""
    modules = _project_and_script_modules()
    wrong = [
        f"{path.name}:{use}"
        for path in sorted((ROOT / "scripts").glob("*.py"))
        for use in private_uses(path, modules)
    ]
    assert not wrong, "private names used by scripts: " + "; ".join(wrong)


def test_no_script_imports_another_script():
    """What two drivers share is product logic: it lives in the package, not in a script."""
    scripts = _script_names()
    wrong = []
    for path in sorted((ROOT / "scripts").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            wrong += [
                f"{path.name}:{node.lineno} imports {n}" for n in names
                if n.split(".")[0] in scripts | {"scripts"}
            ]  # fmt: skip
    assert not wrong, "scripts importing scripts: " + "; ".join(wrong)


def test_modules_use_no_private_name_of_another_module():
    """A helper another module needs is public (no leading underscore): a private name stays free
    to change within its own module."""
    modules = module_files()
    project = set(modules)
    wrong = []
    for name, path in modules.items():
        for use in private_uses(path, project):
            used = use.split(" ", 1)[1].rsplit(".", 1)[0]
            if used in project and used != name:
                wrong.append(f"{path.relative_to(ROOT)}:{use}")
    assert not wrong, "private names used across modules: " + "; ".join(wrong)
