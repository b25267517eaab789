"""The package's import graph: no cycles, and no module importing a layer above its own.

Every import counts: module-level, inside a function (a lazy import still ties the modules together)
and under ``if TYPE_CHECKING:`` (a type named from a higher layer ties the lower one to it as well; the
lower layer declares a protocol instead, as ``models.base.TrainStepContext``). The one allowed upward
edge is the registry's lazy import of ``neuralzoo.models``, which registers every model on first use.
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
    ("foundation", ("neuralzoo.errors", "neuralzoo.version", "neuralzoo.fields", "neuralzoo.config",
                    "neuralzoo.registry", "neuralzoo.cards", "neuralzoo.images", "neuralzoo.plots", "neuralzoo.scratch")),
    ("data", ("neuralzoo.data",)),
    ("models", ("neuralzoo.models", "neuralzoo.run_config")),
    ("training", ("neuralzoo.training", "neuralzoo.runs")),
    ("export", ("neuralzoo.export",)),
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
    found = set()
    for node in ast.walk(tree):
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
    assert "neuralzoo.models.base" in GRAPH["neuralzoo.evaluation.traversal"]   # under TYPE_CHECKING only
    assert "neuralzoo.export.graphs" in GRAPH["neuralzoo.export.write"]
    assert "neuralzoo.export" in GRAPH["neuralzoo.cli.export_command"]


def find_cycles(edges: dict[str, set[str]]) -> list[str]:
    """One cycle (``a -> b -> a``) per back edge of a depth-first walk: empty exactly when the graph
    has no cycle."""
    state: dict[str, int] = {}
    cycles: list[str] = []

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
    return cycles


def test_the_cycle_search_finds_cycles():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a -> b -> c -> a"]
    assert find_cycles({"a": {"a"}}) == ["a -> a"]
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []   # a diamond is no cycle


def test_no_import_cycles():
    edges = {a: {b for b in targets if b in GRAPH and (a, b) not in ALLOWED} for a, targets in GRAPH.items()}
    cycles = find_cycles(edges)
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_module_imports_a_layer_above_its_own(name):
    above = [t for t in GRAPH[name] if t in GRAPH and layer_of(t) > layer_of(name)
             and (name, t) not in ALLOWED]
    assert not above, (f"{name} ({LAYERS[layer_of(name)][0]}) imports higher layers: "
                       + ", ".join(f"{t} ({LAYERS[layer_of(t)][0]})" for t in above))
