"""Search spaces for ``neuralzoo tune``: a TOML or JSON file (or dict) of dimensions over the model's,
the training and the data settings, and the default space of a family.

    [lr]
    type = "float"          # float, int or categorical
    low = 1e-4
    high = 1e-2
    log = true              # sample on a log scale
    [channels]
    type = "categorical"
    choices = ["32,64", "32,64,64"]   # tuple fields as comma-separated strings, or lists

Every name must be a field of the model's dataclass, ``TrainConfig`` or ``DataConfig``; its values
are checked by those dataclasses when a trial builds its run config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..cards.base import SPACE_TYPES
from ..errors import NeuralzooError

# every family also searches these (its own fields: its card's search_space)
TRAINING_SPACE: dict[str, dict[str, Any]] = {
    "lr": {"type": "float", "low": 1e-4, "high": 3e-2, "log": True},   # the CNN's default is 2e-2
    "batch_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
}
KINDS = SPACE_TYPES   # the kinds a model card's search space may use, too


@dataclass(frozen=True)
class Dimension:
    """One searched setting: a float or int range (optionally on a log scale, with a step), or a list
    of choices (None, bool, int, float or str: what Optuna's storages hold)."""

    name: str
    kind: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Any, ...] = ()

    def suggest(self, trial: Any) -> Any:
        if self.kind == "categorical":
            return trial.suggest_categorical(self.name, self.choices)
        if self.kind == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), log=self.log,
                                     step=int(self.step or 1))
        return trial.suggest_float(self.name, self.low, self.high, log=self.log, step=self.step)

    def grid(self) -> list[Any]:
        """The values a grid search tries: the choices, or every step of an int range."""
        if self.kind == "categorical":
            return list(self.choices)
        if self.kind == "int" and not self.log:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))
        raise NeuralzooError(f"--sampler grid needs a finite set of values for {self.name!r}: give it "
                             "type = \"categorical\" with choices (or an int range without log)")

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"type": self.kind, "choices": list(self.choices)}
        out: dict[str, Any] = {"type": self.kind, "low": self.low, "high": self.high, "log": self.log}
        return out if self.step is None else {**out, "step": self.step}


def _choice(value: Any, where: str) -> Any:
    if isinstance(value, (list, tuple)):   # a tuple field's value: the comma form the flags read too
        if not all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value):
            raise NeuralzooError(f"{where}: a list choice may hold numbers and strings only, got {value!r}")
        return ",".join(str(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise NeuralzooError(f"{where}: choices must be numbers, strings, booleans or lists, got {value!r}")


def dimension(name: str, spec: Any, where: str) -> Dimension:
    """One entry of a space file, checked: a one-line error naming the file and the entry."""
    where = f"{where}: [{name}]"
    if not isinstance(spec, dict):
        raise NeuralzooError(f"{where} must be a table with a type (float, int or categorical)")
    kind = spec.get("type", "categorical" if "choices" in spec else None)
    if kind not in KINDS:
        raise NeuralzooError(f"{where}: type must be one of {', '.join(KINDS)}, got {kind!r}")
    unknown = sorted(set(spec) - {"type", "low", "high", "log", "step", "choices"})
    if unknown:
        raise NeuralzooError(f"{where}: unknown key(s) {', '.join(unknown)}; valid: type, low, high, log, "
                             "step, choices")
    if kind == "categorical":
        choices = spec.get("choices")
        if not isinstance(choices, list) or not choices:
            raise NeuralzooError(f"{where}: a categorical dimension needs a non-empty list of choices")
        return Dimension(name, kind, choices=tuple(_choice(c, where) for c in choices))
    low, high = spec.get("low"), spec.get("high")
    numbers = (int,) if kind == "int" else (int, float)
    if not (isinstance(low, numbers) and isinstance(high, numbers)) or isinstance(low, bool) or low >= high:
        raise NeuralzooError(f"{where}: needs {kind} low < high, got low={low!r} high={high!r}")
    log, step = bool(spec.get("log", False)), spec.get("step")
    if log and low <= 0:
        raise NeuralzooError(f"{where}: log = true needs low > 0, got {low!r}")
    if step is not None and (log or not isinstance(step, numbers) or step <= 0):
        raise NeuralzooError(f"{where}: step must be a positive {kind} and cannot go with log = true")
    return Dimension(name, kind, float(low) if kind == "float" else low,
                     float(high) if kind == "float" else high, log, step)


def build_space(model_cls: type, space: str | dict[str, Any] | None) -> dict[str, Dimension]:
    """The dimensions of a search: a space file, a dict of the same shape, or (None) the family's
    default (``TRAINING_SPACE`` and the model card's ``search_space``). Names are checked against the
    settings."""
    from ..run_config import split_values
    from ..fields import read_config_file

    if space is None:
        entries = {**TRAINING_SPACE, **model_cls.card.search_space}
        where = f"default space of {model_cls.name}"
    elif isinstance(space, dict):
        entries, where = space, "the search space"
    else:
        entries, where = read_config_file(space), str(space)
    if not entries:
        raise NeuralzooError(f"{where}: the search space is empty")
    split_values(model_cls, {name: None for name in entries}, where)   # unknown names: the valid ones
    return {name.replace("-", "_"): dimension(name.replace("-", "_"), spec, where)
            for name, spec in entries.items()}
