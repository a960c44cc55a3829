"""The layering docs/architecture.md describes, checked from the source: no import circle inside `qa`
(imports inside functions count too), at most eight modules at `qa/`'s top, and the library never
importing the evals or the tests (nor the server, but for `qa serve`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QA = ROOT / "qa"


def _modules() -> dict[str, Path]:
    mods = {}
    for f in QA.rglob("*.py"):
        parts = list(f.relative_to(ROOT).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _imports(f: Path) -> set[str]:
    """Every module name `f` imports, wherever the import statement stands."""
    names = set()
    for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
    return names


def _graph() -> dict[str, set[str]]:
    mods = _modules()

    def owner(name: str) -> str | None:
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in mods else None

    return {m: {o for n in _imports(f) if (o := owner(n)) and o != m} for m, f in mods.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circle_inside_qa():
    graph = _graph()
    assert "qa.index.passages" in graph["qa.index.bm25"]  # the walk sees imports at all
    assert _cycles(graph) == []


def test_a_circle_would_be_found():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_qa_keeps_at_most_eight_modules_at_its_top():
    top = sorted(f.name for f in QA.glob("*.py") if f.name != "__init__.py")
    assert len(top) <= 8, top


def test_the_library_never_imports_the_evals_server_or_tests():
    for m, f in _modules().items():
        above = ("evals", "tests") if m == "qa.cli" else ("evals", "server", "tests")  # `qa serve` starts the server
        bad = {n for n in _imports(f) if n.split(".")[0] in above}
        assert not bad, (m, bad)
