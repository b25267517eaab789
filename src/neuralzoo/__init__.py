"""neuralzoo: every classic deep-learning family, implemented correctly, trained with one command.

``neuralzoo.train(...)`` trains a registered model, ``neuralzoo.load(path)`` rebuilds one from its
checkpoint alone, ``neuralzoo.tune(...)`` searches its settings with Optuna. Torch is imported lazily so
``neuralzoo.scratch`` (NumPy only) stays torch-free.
"""

from __future__ import annotations

from typing import Any

from .version import __version__  # noqa: E402
__all__ = ["train", "load", "tune", "list_models", "NeuralzooError", "NeuralzooWarning",
           "ConvergenceWarning", "BaselineWarning", "CollapseWarning", "InputWarning", "__version__"]

from .errors import (BaselineWarning, CollapseWarning, ConvergenceWarning, InputWarning,  # noqa: E402
                     NeuralzooError, NeuralzooWarning)


def __getattr__(name: str) -> Any:
    if name in ("train", "load"):
        from . import api

        return getattr(api, name)
    if name == "tune":   # Optuna search (the tune extra)
        from .tuning import tune

        return tune
    if name == "list_models":
        from .registry import model_names

        return model_names
    raise AttributeError(f"module 'neuralzoo' has no attribute {name!r}")
