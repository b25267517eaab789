"""What several test files do to a training run."""

from __future__ import annotations

from pathlib import Path

import pytest

import neuralzoo
from neuralzoo.registry import get_model_class


def crash_at_step_call(monkeypatch: pytest.MonkeyPatch, name: str, call: int, out: Path, **settings) -> None:
    """Train model ``name`` into ``out`` and crash it (a RuntimeError) on the ``call``-th call of its
    ``train_step``, as a killed process would stop; the model class is restored after, so the run can
    then be resumed with ``neuralzoo.train(resume=out)``."""
    cls = get_model_class(name)
    original, calls = cls.train_step, {"n": 0}

    def crashing(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise RuntimeError("simulated crash")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "train_step", crashing)
    with pytest.raises(RuntimeError, match="simulated crash"):
        neuralzoo.train(name, out=out, **settings)
    monkeypatch.setattr(cls, "train_step", original)
