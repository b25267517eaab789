"""What every neuralzoo estimator shares: its parameters, derived from the dataclasses; input checks;
one fit through the training loop; pickling; ``save`` as a run directory.

Parameters. ``model`` names a registered model; every field of ``TrainConfig`` (but the seed, which
``random_state`` gives, and the settings that only write files) is a parameter of its own, ``None``
meaning the model's default as ``neuralzoo train MODEL`` would use it; the model's dataclass fields
are the nested parameters ``model__FIELD`` (``GridSearchCV`` grids such as ``{"lr": [...],
"model__hidden_sizes": [...]}`` work); ``preset``, ``val_fraction`` and ``standardise`` as on the
command line (feature vectors are standardised with the statistics of the rows ``fit`` is given);
``image_shape`` reads flat rows as images. The signature is built from the dataclasses, so a new
training setting or model field appears here without an edit.

Fitting trains through the one loop into a temporary run directory and keeps the model of its best
(validation) or last checkpoint. A fitted estimator pickles as safetensors bytes plus the JSON run
config (no model object is pickled); ``save(dir)`` writes a run directory every CLI command reads.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import math
import tempfile
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterator

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ..config import TrainConfig
from ..errors import NeuralzooError

if TYPE_CHECKING:
    from ..run_config import RunConfig

# training settings an estimator does not take: the seed (random_state gives it) and settings that only
# write files into the temporary run directory (TensorBoard events, sample grids, extra checkpoints)
NOT_PARAMETERS = ("seed", "tensorboard", "sample_every", "checkpoint_every", "log_every")
TRAINING = tuple(f.name for f in fields(TrainConfig) if f.name not in NOT_PARAMETERS)
DATA_FIELDS = ("val_fraction", "standardise")
# estimators stay quiet: no progress bars inside GridSearchCV unless asked for
COMMON = {**{name: None for name in TRAINING}, "progress": False, "verbose": False, "val_fraction": 0.0,
          "standardise": "auto", "preset": None,
          "image_shape": None, "model_params": None, "random_state": None}


def _validate(estimator: BaseEstimator, *arrays: Any, reset: bool, **options: Any) -> Any:
    """scikit-learn's input validation (``validate_data`` from 1.6, the method before): float32,
    NaN/inf and sparse input rejected, ``n_features_in_`` set or checked."""
    try:
        from sklearn.utils.validation import validate_data
    except ImportError:   # scikit-learn < 1.6
        return estimator._validate_data(*arrays, reset=reset, **options)
    return validate_data(estimator, *arrays, reset=reset, **options)


class NeuralZooEstimator(BaseEstimator):
    """Base of the estimators; subclasses set ``default_model``, ``task`` and ``capability`` (what a
    model must have to serve: e.g. ``predict_proba``) and may add parameters in ``own_parameters``."""

    default_model: ClassVar[str] = "mlp"
    task: ClassVar[str] = "classify"
    capability: ClassVar[str] = "predict_proba"
    own_parameters: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Give each estimator an ``__init__`` whose signature lists every parameter (scikit-learn's
        get_params, clone and repr read it), built from the dataclasses."""
        super().__init_subclass__(**kwargs)
        defaults = {**cls.own_parameters, **COMMON}

        def __init__(self, model: str = cls.default_model, **settings: Any) -> None:
            unknown = sorted(set(settings) - set(defaults))
            if unknown:
                raise TypeError(f"{type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; "
                                f"valid: model, {', '.join(defaults)}")
            self.model = model
            for name, default in defaults.items():
                setattr(self, name, settings.get(name, default))

        keyword = inspect.Parameter.KEYWORD_ONLY
        __init__.__signature__ = inspect.Signature(   # type: ignore[attr-defined]
            [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD),
             inspect.Parameter("model", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=cls.default_model),
             *(inspect.Parameter(name, keyword, default=value) for name, value in defaults.items())])
        __init__.__qualname__ = f"{cls.__name__}.__init__"
        __init__.__doc__ = cls.__doc__
        cls.__init__ = __init__   # type: ignore[method-assign]

    # -- parameters ------------------------------------------------------------------------------
    def _model_fields(self) -> dict[str, Any]:
        """The model's dataclass fields as this estimator would train them (defaults, the family's
        preset, then ``model_params``); only the explicit ones when the model name is not valid."""
        from ..api import resolve

        try:
            run_config = resolve(self.model, self.preset, None, dict(self.model_params or {}))
            return dict(vars(run_config.model_config))
        except (NeuralzooError, TypeError, ValueError, AttributeError):
            return dict(self.model_params or {}) if isinstance(self.model_params, dict) else {}

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=False)
        if deep:
            params.update({f"model__{name}": value for name, value in self._model_fields().items()})
        return params

    def set_params(self, **params: Any) -> "NeuralZooEstimator":
        if "model" in params:   # first, so model__ fields are checked against the new model
            super().set_params(model=params.pop("model"))
        nested = {key[len("model__"):]: params.pop(key) for key in list(params) if key.startswith("model__")}
        if nested:
            from ..registry import get_model_class

            valid = [f.name for f in fields(get_model_class(self.model).Config)]
            unknown = sorted(set(nested) - set(valid))
            if unknown:
                raise ValueError(f"invalid parameter(s) {', '.join('model__' + u for u in unknown)} for "
                                 f"model {self.model!r}; valid: {', '.join('model__' + v for v in valid)}")
            self.model_params = {**(self.model_params or {}), **nested}   # a new dict: clones share none
        return super().set_params(**params)

    # -- fitting ---------------------------------------------------------------------------------
    def _seed(self) -> int:
        """``random_state``: an int is the run's seed (as ``neuralzoo train --seed``); None or a
        RandomState draws one, scikit-learn's convention."""
        if isinstance(self.random_state, (int, np.integer)) and not isinstance(self.random_state, bool):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

    def _run_config(self) -> RunConfig:
        from ..api import resolve

        settings = {name: getattr(self, name) for name in TRAINING if getattr(self, name) is not None}
        seed = self._seed()
        settings.update(seed=seed, split_seed=seed, data="arrays given to fit",
                        **{name: getattr(self, name) for name in DATA_FIELDS},
                        **dict(self.model_params or {}))
        run_config = resolve(self.model, self.preset, None, settings)
        variant = run_config.model_class.for_task(self.task)
        if not hasattr(variant, self.capability):
            raise ValueError(f"{type(self).__name__} needs a model with {self.capability!r}; "
                             f"{self.model!r} has none; choose from: {', '.join(self.models())}")
        return run_config

    @classmethod
    def models(cls) -> list[str]:
        """The registered models this estimator can use."""
        from ..registry import get_model_class, model_names

        return [name for name in model_names()
                if hasattr(get_model_class(name).for_task(cls.task), cls.capability)]

    def _shaped(self, x: np.ndarray, run_config: RunConfig) -> np.ndarray:
        """Rows as the model reads them: ``image_shape`` given, or an image model given flat rows
        (a square side: (1, s, s); otherwise one row: (1, 1, D)) or (N, H, W) grey images."""
        cls = run_config.model_class
        if self.image_shape is not None:
            shape = tuple(int(s) for s in self.image_shape)
            shape = (1, *shape) if len(shape) == 2 else shape
            if len(shape) != 3 or math.prod(shape) != math.prod(x.shape[1:]):
                raise ValueError(f"image_shape {tuple(self.image_shape)} holds {math.prod(shape)} values; "
                                 f"X has {math.prod(x.shape[1:])} per sample (shape {x.shape[1:]})")
            return x.reshape(len(x), *shape)
        if not cls.needs_image(run_config.model_config) or x.ndim == 4:
            return x
        if x.ndim == 3:
            return x[:, None]
        side = math.isqrt(x.shape[1])
        return x.reshape(len(x), 1, side, side) if side * side == x.shape[1] else x[:, None, None, :]

    def _train(self, x: np.ndarray, y: np.ndarray | None = None,
               class_names: list[str] | None = None) -> "NeuralZooEstimator":
        """Train on validated rows (and label indices) and keep the trained model as ``model_``."""
        import torch

        from ..api import train_loaded
        from ..data import arrays_dataset
        from ..runs import load

        run_config = self._run_config()
        x = self._shaped(x, run_config)
        rows = torch.from_numpy(np.ascontiguousarray(x))
        data = arrays_dataset(rows, y, run_config.data, class_names)
        with tempfile.TemporaryDirectory(prefix="neuralzoo-fit-") as tmp:
            summary = train_loaded(data, run_config, Path(tmp), durable=False)   # a scratch folder: no fsync
            if summary["reason"] == "signal":   # Ctrl-C in fit: interrupt the caller as usual
                raise KeyboardInterrupt(f"fit stopped by a signal at step {summary['steps']}")
            self.model_ = load(tmp)   # the best (validation) checkpoint, else the last
            metrics = Path(tmp) / "metrics.jsonl"
            self.history_ = [json.loads(line) for line in metrics.read_text().splitlines() if line]
        self.model_.checkpoint = None
        self.seed_ = run_config.train.seed
        self.n_iter_ = summary["epochs"]
        self.training_summary_ = {k: v for k, v in summary.items() if k != "run_dir"}
        return self

    def _inputs(self, X: Any) -> "Any":
        """Validated rows for inference, shaped as the fitted model reads them, as a tensor."""
        import torch

        check_is_fitted(self, "model_")
        x = _validate(self, X, reset=False, allow_nd=True, dtype=np.float32)
        shape = tuple(self.model_.info.input_shape)
        if math.prod(x.shape[1:]) != math.prod(shape):
            raise ValueError(f"X has samples of shape {x.shape[1:]}; the model was fitted on {shape}")
        from ..data.inputs import model_inputs

        # the fit's standardisation (statistics of the rows fit was given), never refitted here
        return model_inputs(torch.from_numpy(np.ascontiguousarray(x).reshape(len(x), *shape)),
                            self.model_.info)

    @contextlib.contextmanager
    def _draws(self) -> Iterator[None]:
        """Inference that draws (a VAE's posterior samples) draws from the fit's seed: a call gives
        the same answer every time (and after pickling), and the caller's RNG is left as it was."""
        import torch

        with torch.random.fork_rng():
            torch.manual_seed(self.seed_)
            yield

    def _more_tags(self) -> dict[str, Any]:   # scikit-learn < 1.6; the same as __sklearn_tags__ says
        return {"allow_nan": False, "preserves_dtype": [np.float32]}

    def __sklearn_tags__(self) -> Any:   # scikit-learn >= 1.6 (NeuralZooTransformer sets its dtype)
        return super().__sklearn_tags__()


    # -- persistence -----------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        """The network as safetensors bytes plus its JSON run config (pickle, joblib)."""
        state = dict(super().__getstate__())   # a copy: the fitted estimator keeps its model
        model = state.get("model_")
        if model is not None:
            from safetensors.torch import save

            weights = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
            state["model_"] = {"weights": save(weights), "run_config": json.dumps(model.run_config.to_dict())}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.get("model_")
        if isinstance(saved, dict):
            from safetensors.torch import load

            from ..run_config import RunConfig
            from ..runs import from_state

            where = Path(f"pickled {type(self).__name__}")
            run_config = RunConfig.from_dict(json.loads(saved["run_config"]), where)
            state = {**state, "model_": from_state(run_config, load(saved["weights"]), where)}
            state["model_"].checkpoint = None
        super().__setstate__(state)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model as a run directory (config.json, metrics.jsonl, the model as
        checkpoints/best and last) that ``neuralzoo.load`` and every CLI command read."""
        from ..training.checkpoint import atomic_write, save_checkpoint

        check_is_fitted(self, "model_")
        run_dir = Path(path)
        run_config = self.model_.run_config.to_dict()
        summary = self.training_summary_
        atomic_write(run_dir / "config.json", (json.dumps(run_config, indent=2) + "\n").encode())
        atomic_write(run_dir / "metrics.jsonl", "".join(json.dumps(r) + "\n" for r in self.history_).encode())
        state = {"epoch": summary["epochs"], "step": summary["steps"], "best": summary["best"],
                 "monitor": summary["monitor"], "last_val": summary["final"], "saved_by": type(self).__name__}
        for which in ("best", "last"):   # the kept model as both: no optimizer state to resume from
            save_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors", self.model_, [], run_config,
                            state)
        return run_dir
