"""The model registry: a dict plus a decorator.

Adding a model is one file with ``@register("name")`` on its class and one import line in
``neuralzoo/models/__init__.py``; the CLI, the demo and the registry-wide tests pick it up from here.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable, TypeVar

from .errors import NeuralzooError

# name -> its subclass of models.base.Model (not named here: the registry sits below the models)
MODELS: dict[str, type] = {}
T = TypeVar("T")


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a model available as ``neuralzoo train NAME``."""

    def decorate(cls: T) -> T:
        if name in MODELS:
            raise ValueError(f"model name {name!r} is already registered by {MODELS[name].__name__}; "
                             f"registered: {', '.join(sorted(MODELS))}")
        cls.name = name  # type: ignore[attr-defined]
        MODELS[name] = cls  # type: ignore[assignment]
        return cls

    return decorate


def get_model_class(name: str) -> type:
    from . import models  # noqa: F401  (importing the package registers every model)

    if name not in MODELS:
        raise NeuralzooError(f"unknown model {name!r}; choose from: {', '.join(sorted(MODELS))}")
    return MODELS[name]


def model_names() -> list[str]:
    from . import models  # noqa: F401

    return sorted(MODELS)


def model_catalog() -> list[tuple[str, str, list[str]]]:
    """(name, summary, preset names) of every registered model, sorted by name, read from the model
    files' source instead of importing them, so ``neuralzoo list`` starts without torch. A model's
    ``summary`` must be a string literal or ``CONSTANT.format(literals)``; ``tests/test_models.py``
    checks this catalog against the imported classes."""
    folder = Path(__file__).parent / "models"
    line = ast.parse((folder / "__init__.py").read_text())
    modules = [alias.name for node in line.body if isinstance(node, ast.ImportFrom) for alias in node.names]
    catalog = []
    for module in modules:
        tree = ast.parse((folder / f"{module}.py").read_text())
        constants = {target.id: node.value.value for node in tree.body if isinstance(node, ast.Assign)
                     for target in node.targets if isinstance(target, ast.Name)
                     and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)}
        for cls in (node for node in tree.body if isinstance(node, ast.ClassDef)):
            names = [d.args[0].value for d in cls.decorator_list if isinstance(d, ast.Call)
                     and getattr(d.func, "id", None) == "register"]
            if not names:
                continue
            body = {target.id: node.value for node in cls.body if isinstance(node, ast.Assign)
                    for target in node.targets if isinstance(target, ast.Name)}
            presets = body.get("presets")
            catalog.append((names[0], _literal_text(body.get("summary"), constants),
                            [key.value for key in presets.keys] if isinstance(presets, ast.Dict) else []))
    return sorted(catalog)


def _literal_text(node: ast.expr | None, constants: dict[str, str]) -> str:
    if node is None:
        return ""
    if isinstance(node, ast.Constant):
        return str(node.value)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format"
            and isinstance(node.func.value, ast.Name) and node.func.value.id in constants):
        return constants[node.func.value.id].format(*(ast.literal_eval(a) for a in node.args))
    raise ValueError(f"a model summary must be a string literal, got {ast.unparse(node)}")
