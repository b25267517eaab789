"""The package's import graph: no cycles, and no module importing a layer above its own.

Every import counts, module-level or inside a function (a lazy import still ties the modules
together), except those under ``if TYPE_CHECKING:``. The one allowed upward edge is the registry's
lazy import of ``neuralzoo.models``, which registers every model on first use.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import neuralzoo

PACKAGE = Path(neuralzoo.__file__).parent
ALLOWED = {("neuralzoo.registry", "neuralzoo.models")}
# lowest first; a module may import its own layer or any lower one
LAYERS = [
    ("foundation", ("neuralzoo.errors", "neuralzoo.version", "neuralzoo.config", "neuralzoo.registry",
                    "neuralzoo.cards", "neuralzoo.images", "neuralzoo.plots", "neuralzoo.scratch")),
    ("data", ("neuralzoo.data",)),
    ("models", ("neuralzoo.models",)),
    ("training", ("neuralzoo.training", "neuralzoo.runs")),
    ("evaluation", ("neuralzoo.evaluation",)),
    ("api", ("neuralzoo.api", "neuralzoo.tuning")),
    ("front ends", ("neuralzoo.cli", "neuralzoo.__main__", "neuralzoo", "neuralzoo.sklearn",
                    "neuralzoo.serve")),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, name: str) -> set[str]:
    """neuralzoo modules imported by the file (resolved to modules, not names inside them)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    skipped = {id(node) for stmt in ast.walk(tree) if isinstance(stmt, ast.If)
               and "TYPE_CHECKING" in ast.unparse(stmt.test) for node in ast.walk(stmt)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("neuralzoo")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            if not base.startswith("neuralzoo"):
                continue
            for alias in node.names:   # `from . import x` imports the module x when there is one
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found - {name}


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: imports_of(path, name) for name, path in MODULES.items()}


def layer_of(name: str) -> int:
    best = max((prefix for _, prefixes in LAYERS for prefix in prefixes
                if name == prefix or name.startswith(prefix + ".")), key=len)
    return next(i for i, (_, prefixes) in enumerate(LAYERS) if best in prefixes)


def test_the_graph_was_read():
    assert "neuralzoo.evaluation.quality" in GRAPH["neuralzoo.evaluation"]
    assert "neuralzoo.runs" in GRAPH["neuralzoo.evaluation.quality"]
    assert "neuralzoo.models" in GRAPH["neuralzoo.registry"]   # a lazy import inside a function


def test_no_import_cycles():
    edges = {a: {b for b in targets if b in GRAPH and (a, b) not in ALLOWED} for a, targets in GRAPH.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_a_layer_above_its_own(name):
    above = [t for t in GRAPH[name] if t in GRAPH and layer_of(t) > layer_of(name)
             and (name, t) not in ALLOWED]
    assert not above, (f"{name} ({LAYERS[layer_of(name)][0]}) imports higher layers: "
                       + ", ".join(f"{t} ({LAYERS[layer_of(t)][0]})" for t in above))
