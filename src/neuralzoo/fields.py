"""The machinery behind every typed config: a dataclass field with help text (``param``), and any
config dataclass turned into CLI flags, checked values, dicts, JSON / TOML files and back.

Each model's hyperparameters live in exactly one dataclass; flags, saved configs and docs derive from
its fields (name, type, default, ``metadata["help"]``), so nothing is written twice. The training
settings themselves are ``config.TrainConfig``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, Mapping, TypeVar

from .errors import NeuralzooError

T = TypeVar("T")


def param(default: Any, help: str, **kw: Any) -> Any:
    """A dataclass field with help text (the CLI and docs read it)."""
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults")
    return field(default=default, metadata={"help": help, **kw})


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return tp, False


def field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def check_choices(obj: Any) -> None:
    """Raise a NeuralzooError naming the field when a Literal-typed field holds another value."""
    for name, tp in field_types(type(obj)).items():
        base, _ = _unwrap_optional(tp)
        value = getattr(obj, name)
        if typing.get_origin(base) is Literal and value is not None and value not in typing.get_args(base):
            choices = ", ".join(map(str, typing.get_args(base)))
            raise NeuralzooError(f"{name} must be one of: {choices}; got {value!r}")


def coerce(name: str, tp: Any, value: Any) -> Any:
    """Convert a JSON/TOML/CLI value to the field's type, or raise naming the field."""
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("none", "null", "")):
        if optional:
            return None
        raise NeuralzooError(f"{name} may not be empty")
    origin = typing.get_origin(base)
    try:
        if origin is tuple:
            (item_type, *_rest) = typing.get_args(base)
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(coerce(name, item_type, v.strip() if isinstance(v, str) else v)
                         for v in items if not (isinstance(v, str) and v.strip() == ""))
        if origin is Literal:
            return value
        if base is bool:
            if isinstance(value, str):
                if value.lower() in ("1", "true", "yes", "on"):
                    return True
                if value.lower() in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            return bool(value)
        if base is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if base is float:
            return float(value)
        if base is str:
            return str(value)
    except NeuralzooError:
        raise   # an item of a tuple field: already names the field and the item type
    except (TypeError, ValueError, OverflowError):
        raise NeuralzooError(f"{name}: cannot read {value!r} as {getattr(base, '__name__', base)}") from None
    return value


def build(cls: type, values: dict[str, Any], where: str = "") -> Any:
    """Instantiate a config dataclass from a dict; unknown keys raise with the valid ones."""
    types_ = field_types(cls)
    unknown = sorted(set(values) - set(types_))
    if unknown:
        place = f" in {where}" if where else ""
        raise NeuralzooError(f"unknown field(s) {', '.join(unknown)}{place}; valid: {', '.join(types_)}")
    return cls(**{k: coerce(k, types_[k], v) for k, v in values.items()})


def updated(obj: T, values: Mapping[str, Any]) -> T:
    """A copy of the config dataclass ``obj`` with ``values`` (read as its fields' types) in place of
    its own, validated by its ``__post_init__``; ``obj`` itself is left as it was."""
    types_ = field_types(type(obj))
    return dataclasses.replace(obj, **{k: coerce(k, types_[k], v) for k, v in values.items()})


def to_dict(obj: Any) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_flags(parser: argparse.ArgumentParser | Any, cls: type, title: str,
              exclude: tuple[str, ...] = ()) -> list[str]:
    """Add one ``--kebab-case`` flag per field (but those in ``exclude``: a command whose own flag
    means something else); returns the field names. Defaults are SUPPRESSed so the caller can tell
    explicit flags apart (explicit flags beat config files and presets)."""
    group = parser.add_argument_group(title)
    names = []
    defaults = cls()  # validated defaults, shown in --help
    for f in (f for f in dataclasses.fields(cls) if f.name not in exclude):
        tp, _ = _unwrap_optional(field_types(cls)[f.name])
        default = getattr(defaults, f.name)
        shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
        help_ = f.metadata.get("help", "")
        if "(default:" not in help_:   # some help texts say in words what None means
            help_ = f"{help_} (default: {shown})"
        kw: dict[str, Any] = dict(dest=f.name, default=argparse.SUPPRESS, help=help_)
        if tp is bool:
            kw["action"] = argparse.BooleanOptionalAction
        else:
            if typing.get_origin(tp) is Literal:
                kw["choices"] = typing.get_args(tp)
            kw["metavar"] = f.name.upper() if "choices" not in kw else None
        group.add_argument(flag(f.name), **{k: v for k, v in kw.items() if v is not None})
        names.append(f.name)
    return names


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a JSON or TOML config file into a dict (sections ``model``/``train``/``data`` or flat)."""
    path = Path(path)
    if not path.is_file():
        raise NeuralzooError(f"{path}: config file not found")
    try:
        if path.suffix == ".toml":
            import tomllib
            with path.open("rb") as f:
                return tomllib.load(f)
        with path.open() as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        kind = "TOML" if path.suffix == ".toml" else "JSON (config files are .json or .toml)"
        raise NeuralzooError(f"{path}: not valid {kind}: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise NeuralzooError(f"{path}: expected an object at the top level")
    return data
