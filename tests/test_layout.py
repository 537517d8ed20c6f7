"""The layout rules of STYLE.md, checked on the source: imports never go in a circle, and the
tracking layer (the only one that imports mlflow) imports nothing above it.

Every ``import`` and ``from ... import`` of src/exohunt counts, at module level or inside a
function (a lazy import is still an import), read with :mod:`ast` without importing anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "exohunt"

#: What exohunt.tracking may import from exohunt: itself, and the layers below it (serving: the
#: raw-row scoring of the servable model, on dataset and io only).
TRACKING_MAY_IMPORT = ("tracking", "errors", "dataset", "io", "serving", "_version", "_env")
#: ...never these (the layers built on tracking).
ABOVE_TRACKING = (
    *("train", "predict", "models", "features", "experiments", "scanning", "services"),
    "lightcurve",
)


def in_package(name: str, package: str) -> bool:
    """Whether module ``name`` is ``exohunt.<package>`` or inside it."""
    return name == f"exohunt.{package}" or name.startswith(f"exohunt.{package}.")


def module_name(path: Path) -> str:
    """``exohunt.io.read`` for src/exohunt/io/read.py; a package's __init__ is the package."""
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    assert "exohunt.cli" in found and "exohunt.tracking" in found, f"no sources under {PACKAGE}"
    return found


def imports(path: Path, name: str) -> list[tuple[tuple[str, ...], int]]:
    """Every import in ``path`` (module ``name``): ``(the modules it may name, line)``.
    ``from a import b`` may name ``a.b`` (a submodule) or ``a`` (``b`` a function or class);
    :func:`resolve` picks. ``importlib.import_module("...")`` with a literal counts too."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [((alias.name,), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x, from ..io import y
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            out += [((f"{base}.{alias.name}", base), node.lineno) for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            out.append(((node.args[0].value,), node.lineno))
    return out


def resolve(names: tuple[str, ...], known: dict[str, Path]) -> str:
    """The module an import names: the first of ``names`` that is a module, else the nearest
    enclosing module that is."""
    for option in names:
        if option in known:
            return option
    candidate = names[-1]
    while candidate and candidate not in known:
        candidate = candidate.rpartition(".")[0]
    return candidate


def top_level(names: tuple[str, ...]) -> str:
    return names[-1].split(".")[0]


def graph() -> dict[str, dict[str, int]]:
    """module -> {exohunt module it imports: the line of the first such import}."""
    known = modules()
    edges: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        targets = edges.setdefault(name, {})
        for names, line in imports(path, name):
            if top_level(names) != "exohunt":
                continue
            target = resolve(names, known)
            if target and target != name:
                targets.setdefault(target, line)
    return edges


def find_cycle(edges: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle ``[a, b, ..., a]``, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(edges.get(node, {})):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state:
            found = visit(start)
            if found:
                return found
    return None


def describe(cycle: list[str], edges: dict[str, dict[str, int]]) -> str:
    steps = [f"{a} (line {edges[a][b]}) -> {b}" for a, b in zip(cycle[:-1], cycle[1:], strict=True)]
    return "import cycle:\n  " + "\n  ".join(steps)


def test_the_graph_sees_module_level_and_lazy_imports():
    edges = graph()
    assert "exohunt.io.read" in edges["exohunt.io"]  # a package's __init__ is the package
    assert "exohunt.services.server" in edges["exohunt.cli"]  # imported inside a function
    assert "exohunt.lightcurve.bls" in edges["exohunt.lightcurve.features"]  # from pkg import mod


def test_find_cycle_reports_the_circle():
    edges = {"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {"a": 4}}
    assert find_cycle(edges) == ["a", "b", "c", "a"]
    assert "c (line 3) -> a" in describe(["a", "b", "c", "a"], edges)
    assert find_cycle({"a": {"b": 1}, "b": {}}) is None


def test_imports_never_go_in_a_circle():
    edges = graph()
    cycle = find_cycle(edges)
    if cycle:
        pytest.fail(describe(cycle, edges))


def test_only_the_tracking_package_imports_mlflow():
    offenders = [
        f"{name} line {line}"
        for name, path in modules().items()
        if not in_package(name, "tracking")
        for names, line in imports(path, name)
        if top_level(names) == "mlflow"
    ]
    assert not offenders, f"mlflow imported outside exohunt.tracking: {', '.join(offenders)}"


def tracking_may_import(target: str) -> bool:
    """Whether tracking may import module ``target``; ``exohunt`` itself holds only the version."""
    return any(in_package(target, p) for p in TRACKING_MAY_IMPORT)


def test_tracking_imports_nothing_above_it():
    edges = graph()
    tracking = [name for name in edges if in_package(name, "tracking")]
    offenders = [
        f"{name} line {line} -> {target}"
        for name in tracking
        for target, line in edges[name].items()
        if not tracking_may_import(target)
    ]
    assert not offenders, "exohunt.tracking imports from above it:\n  " + "\n  ".join(offenders)
    # nor through the modules it may import
    reached, todo = set(), list(tracking)
    while todo:
        for target in edges.get(todo.pop(), {}):
            if target not in reached:
                reached.add(target)
                todo.append(target)
    above = sorted(t for t in reached if any(in_package(t, a) for a in ABOVE_TRACKING))
    assert not above, f"exohunt.tracking reaches {', '.join(above)} through its imports"
    assert not any(tracking_may_import(f"exohunt.{a}") for a in ABOVE_TRACKING)
