"""No import cycles between the Dagster wiring modules (issue 16, defect 7: ``defs/automation`` and ``defs/spend``
imported each other, one of them inside a function to dodge the cycle). Lazy imports inside functions count."""

from __future__ import annotations

import ast
from pathlib import Path

import tiktok_assets

PACKAGE = Path(tiktok_assets.__file__).parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every tiktok_assets module this file imports, at any depth (functions included)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tiktok_assets"):
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("tiktok_assets")}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: {imported for imported in _imports(path) if imported in modules and imported != name}
            for name, path in modules.items()}


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen, todo = set(), [start]
    while todo:
        module = todo.pop()
        if module == goal:
            return True
        if module not in seen:
            seen.add(module)
            todo.extend(graph.get(module, ()))
    return False


def test_no_defs_module_imports_one_that_imports_it_back() -> None:
    graph = _graph()
    defs_modules = sorted(name for name in graph if name.startswith("tiktok_assets.defs."))
    cycles = [(a, b) for a in defs_modules for b in graph[a] if b.startswith("tiktok_assets.defs.")
              and _reaches(graph, b, a)]
    assert cycles == []


def test_the_probe_finds_a_cycle_when_there_is_one() -> None:
    assert _reaches({"a": {"b"}, "b": {"c"}, "c": {"a"}}, "b", "a")
    assert not _reaches({"a": {"b"}, "b": set()}, "b", "a")
