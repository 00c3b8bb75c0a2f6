"""The layers README.md's Layout promises: the domain packages never import Dagster, directly or through another
tiktok_assets module (issue 16, defect 8: logic lives there, ``tiktok_assets/defs/`` is wiring). Lazy imports
inside functions count."""

from __future__ import annotations

import ast
from pathlib import Path

import tiktok_assets

PACKAGE = Path(tiktok_assets.__file__).parent
DOMAINS = ("tiktok", "simulator", "warehouse", "spend", "metrics", "postbacks", "runs", "audience")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
    return found


def _dagster_paths() -> dict[str, list[str]]:
    return _reaching_dagster({_module_name(path): _imports(path) for path in PACKAGE.rglob("*.py")})


def _reaching_dagster(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    """For each domain module that reaches Dagster, the chain of modules that leads there."""
    reaching: dict[str, list[str]] = {}
    for start in graph:
        if not start.startswith(tuple(f"tiktok_assets.{domain}" for domain in DOMAINS)):
            continue
        todo, seen = [[start]], set()
        while todo:
            chain = todo.pop()
            module = chain[-1]
            if module in seen:
                continue
            seen.add(module)
            for imported in graph.get(module, ()):
                if imported.split(".")[0] in {"dagster", "dagster_shared"}:
                    reaching[start] = [*chain, imported]
                    todo = []
                    break
                if imported in graph:
                    todo.append([*chain, imported])
    return reaching


def test_no_domain_module_reaches_dagster() -> None:
    assert _dagster_paths() == {}


def test_the_probe_finds_dagster_behind_another_module() -> None:
    # tiktok_assets.partitions builds Dagster partition definitions: a domain module importing it reaches Dagster.
    graph = {"tiktok_assets.runs.x": {"tiktok_assets.partitions"}, "tiktok_assets.partitions": {"dagster"},
             "tiktok_assets.spend.y": {"sqlalchemy"}}
    assert _reaching_dagster(graph) == {"tiktok_assets.runs.x": ["tiktok_assets.runs.x", "tiktok_assets.partitions",
                                                                 "dagster"]}
    assert "dagster" in _imports(PACKAGE / "defs" / "ops.py")
