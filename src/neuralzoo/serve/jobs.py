"""What ``neuralzoo serve`` does with one trained run, without any web framework: the jobs behind the
page's panels and the JSON API, each taking and returning plain values (lists, numbers, PNG data URLs).

A run's capabilities are looked up structurally (``hasattr``), as everywhere else; the data a panel
needs (the test split for the latent map and the anomaly percentiles, the series for the forecaster) is
read once when the run is served, from the run's own data set, in the model's terms. Every model call
holds the run's lock: attribution hooks and precision switches are not safe across threads.
"""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import numpy as np
import torch

from ..errors import NeuralzooError
from ..models.base import Model

MAX_POINTS = 2000     # test samples on the latent map and behind the anomaly percentiles
MAX_SAMPLES = 64
MAX_TEXT = 2000
VERBS = {"classify": "classify", "latent": "map or decode codes", "sample": "sample",
         "anomaly": "score anomalies", "forecast": "forecast", "generate": "generate text"}


def png_data_url(images: torch.Tensor) -> str:
    """(N, C, H, W) in [0, 1] -> a PNG grid as a ``data:`` URL (no file, no second request)."""
    from PIL import Image

    from ..images import image_grid

    buffer = io.BytesIO()
    grid = image_grid(images, padding=0 if len(images) == 1 else 2, min_size=28)
    Image.fromarray(grid).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def drawable(model: Model) -> bool:
    """Inputs a canvas can give: images, and images read row by row (the row-sequence classifiers)."""
    shape = model.info.input_shape
    return model.info.is_image or (len(shape) == 2 and "row by row" in model.info.description)


def capabilities(model: Model) -> list[str]:
    found = {"classify": "predict_proba", "latent": "decode", "sample": "sample",
             "anomaly": "anomaly_scores", "forecast": "forecast", "generate": "generate"}
    return [job for job, member in found.items() if hasattr(model, member)]


def finite_list(values: np.ndarray) -> list:
    """Array -> nested lists with NaN as None (JSON has no NaN)."""
    return [finite_list(v) for v in values] if values.ndim > 1 else [
        None if not np.isfinite(v) else float(v) for v in values]


class ServedRun:
    """One trained model and the data its panels show."""

    def __init__(self, name: str, model: Model) -> None:
        self.name, self.model = name, model
        self.lock = threading.Lock()
        self.jobs = capabilities(model)
        self.data_error: str | None = None
        self.points: torch.Tensor | None = None        # (M, *input_shape) test samples
        self.labels: torch.Tensor | None = None        # (M,) their labels, if any
        self.series: Any = None
        try:
            self._load_data()
        except NeuralzooError as e:   # the page says so; the other panels still work
            self.data_error = str(e)

    # -- set-up ---------------------------------------------------------------------------------
    def _load_data(self) -> None:
        from ..evaluation import eval_data_config, load_eval_data

        model = self.model
        if "forecast" in self.jobs:
            from ..data.series import fill_missing, read_series

            config = eval_data_config(model, {})
            series = read_series(config)
            values, _ = fill_missing(series, (len(series.values),), config.missing)
            self.series = (series, values)
        elif "latent" in self.jobs or "anomaly" in self.jobs:
            data = load_eval_data(model, eval_data_config(model, {}), need_validation=False)
            test = data.split("test")
            keep = torch.randperm(len(test.x), generator=torch.Generator().manual_seed(0))[:MAX_POINTS]
            keep = keep.sort().values   # a fixed random subset, in the split's order
            self.points = test.x[keep]
            self.labels = None if test.y is None else test.y[keep]
        if "latent" in self.jobs and self.points is not None:
            self._fit_map()
        if "anomaly" in self.jobs and self.points is not None:
            self.reference_scores = np.sort(self.model.anomaly_scores(self.points).numpy())

    def _fit_map(self) -> None:
        """The codes of the test points and a 2-D view of them: the codes themselves when the
        latent space is 2-D, else their first two principal axes (a click maps back along them)."""
        codes = self.model.infer(lambda rows: self.model.encode(rows).float(), self.points).double()
        if codes.shape[1] == 2:   # the codes' own coordinates (a VAE's prior is centred on 0)
            self.center, self.axes = torch.zeros(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64)
        else:
            self.center = codes.mean(0)
            self.axes = torch.linalg.svd(codes - self.center, full_matrices=False).Vh[:2]   # (2, D)
        self.map = ((codes - self.center) @ self.axes.T).float()   # (M, 2)

    # -- description ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        info, model = self.model.info, self.model
        out: dict[str, Any] = {
            "name": self.name, "model": model.name, "summary": model.card.summary,
            "data": info.name, "task": info.task, "input_shape": list(info.input_shape),
            "jobs": self.jobs, "drawable": drawable(model), "images": info.is_image,
            "classes": info.class_names or ([str(k) for k in range(info.num_classes)]
                                            if info.num_classes else None),
            "data_error": self.data_error,
            "preset": getattr(getattr(model, "run_config", None), "preset", None)}
        if "classify" in self.jobs:
            from ..evaluation.explain import last_convolution

            out["overlays"] = (["grad-cam"] if last_convolution(model) is not None else []) + ["saliency"]
        if "sample" in self.jobs:
            out["conditional"] = bool(getattr(model.config, "conditional", False))
        if "forecast" in self.jobs:
            spec = info.series
            out.update(horizon=spec.horizon, lookback=spec.lookback, columns=list(spec.columns),
                       length=None if self.series is None else len(self.series[1]))
        if "generate" in self.jobs:
            out["vocabulary_size"] = len(info.text.vocabulary)
        return out

    def require(self, job: str, data: bool = False) -> None:
        if job not in self.jobs:
            raise NeuralzooError(f"run {self.name!r} ({self.model.name} on {self.model.info.name}) cannot "
                                 f"{VERBS[job]}; its jobs: {', '.join(self.jobs)}")
        if data and self.data_error:
            raise NeuralzooError(f"run {self.name!r}: its data is not available here ({self.data_error})")

    # -- classifier -----------------------------------------------------------------------------
    def predict(self, x: torch.Tensor, overlay: str = "none") -> dict[str, Any]:
        """Probabilities of each row of ``x`` (N, *input_shape) and, for the first row, the
        attribution map of its predicted class (``grad-cam`` or ``saliency``) in [0, 1], and
        whether that map is degenerate (all zero: no evidence for the class, nothing to draw)."""
        self.require("classify")
        degenerate = False
        with self.lock:
            if overlay == "none":
                with self.model.autocast():
                    probabilities = self.model.predict_proba(x)
                heat = None
            else:
                from ..evaluation.explain import explain

                found = explain(self.model, x[:1], (overlay,))
                with self.model.autocast():
                    probabilities = self.model.predict_proba(x) if len(x) > 1 else found.probabilities
                heat = self._heat(found.maps[overlay][0])
                degenerate = bool(found.degenerate[overlay][0])
        rows = probabilities.float().numpy()
        return {"probabilities": rows.tolist(), "predicted": rows.argmax(1).tolist(),
                "overlay": heat, "method": overlay, "overlay_degenerate": degenerate}

    def _heat(self, attribution: torch.Tensor) -> list[list[float]]:
        """A map in the input's height x width, scaled to [0, 1] (channels: their largest value)."""
        shape = self.model.info.input_shape
        values = attribution.abs()
        if values.dim() == 3:
            values = values.amax(0)
        elif values.dim() == 1 and len(shape) == 2:   # one value per row of a row-read image
            values = values[:, None].expand(*shape)
        top = float(values.max())
        return (values / top if top > 0 else values).tolist()

    # -- latent models --------------------------------------------------------------------------
    def latent_map(self) -> dict[str, Any]:
        self.require("latent", data=True)
        return {"points": self.map.tolist(),
                "labels": None if self.labels is None else self.labels.tolist(),
                "latent_dim": int(self.axes.shape[1]),
                "view": "the codes" if self.axes.shape[1] == 2 else "first two principal axes of the codes",
                "protocol": f"{len(self.map)} test samples of {self.model.info.name}, seed 0"}

    def decode_point(self, point: tuple[float, float]) -> dict[str, Any]:
        self.require("latent", data=True)
        z = (self.center + torch.tensor(point, dtype=torch.float64) @ self.axes).float()[None]
        with self.lock, torch.no_grad(), self.model.autocast():
            image = self.model.decode(z.to(self.model.device)).float().cpu()
        return {"image": self._picture(image)}

    def interpolate(self, first: int, second: int, t: float) -> dict[str, Any]:
        """The decoding at ``t`` in [0, 1] along the straight line between two test samples' codes."""
        self.require("latent", data=True)
        for index in (first, second):
            if not 0 <= index < len(self.points):
                raise NeuralzooError(f"sample {index} outside 0..{len(self.points) - 1}")
        if not 0.0 <= t <= 1.0:
            raise NeuralzooError(f"t {t} outside [0, 1]")
        pair = self.points[[first, second]]
        with self.lock, torch.no_grad(), self.model.autocast():
            za, zb = self.model.encode(pair.to(self.model.device)).float()
            image = self.model.decode(za[None] + t * (zb - za)[None]).float().cpu()
        return {"image": self._picture(image), "first": self._picture(pair[:1]),
                "second": self._picture(pair[1:])}

    def anomaly(self, x: torch.Tensor) -> dict[str, Any]:
        """Each row's anomaly score (higher = more anomalous) and the share of test samples scoring
        lower (its percentile among typical data)."""
        self.require("anomaly", data=True)
        with self.lock:
            scores = self.model.anomaly_scores(x).numpy()
        share = np.searchsorted(self.reference_scores, scores, side="left") / len(self.reference_scores)
        return {"scores": scores.tolist(), "percentiles": (100 * share).tolist(),
                "protocol": f"percentile among {len(self.reference_scores)} test samples' scores"}

    def _picture(self, images: torch.Tensor) -> str | list:
        if not self.model.info.is_image:
            return images.numpy().tolist()
        return png_data_url(images)

    # -- generative models ----------------------------------------------------------------------
    def samples(self, count: int, temperature: float, seed: int, label: int | None) -> dict[str, Any]:
        self.require("sample")
        if not 1 <= count <= MAX_SAMPLES:
            raise NeuralzooError(f"count {count} outside 1..{MAX_SAMPLES}")
        generator = torch.Generator().manual_seed(seed)
        options = {} if label is None else {"labels": label}
        if label is not None and not getattr(self.model.config, "conditional", False):
            raise NeuralzooError(f"run {self.name!r} ({self.model.name}) is not class-conditional; "
                                 "leave the class out")
        with self.lock, torch.no_grad(), self.model.autocast():
            images = self.model.sample(count, generator=generator, temperature=temperature,
                                       **options).float().cpu()
        return {"image": self._picture(images), "count": count, "seed": seed}

    # -- sequences ------------------------------------------------------------------------------
    def forecast(self, horizon: int | None, origin: int | None) -> dict[str, Any]:
        """The forecast after ``origin`` observed steps (default: the last ``horizon`` held back, so
        the truth is shown) with the naive, seasonal naive and AR(p) baselines fitted on the training
        part, in the data's units."""
        from ..evaluation.forecasting import baselines, fit_baselines

        self.require("forecast", data=True)
        series, values = self.series
        spec, n = self.model.info.series, len(values)
        horizon = horizon or spec.horizon
        if not 1 <= horizon <= 10 * spec.horizon:
            raise NeuralzooError(f"horizon {horizon} outside 1..{10 * spec.horizon}")
        origin = n - horizon if origin is None else origin
        if not spec.lookback <= origin <= n:
            raise NeuralzooError(f"origin {origin} outside {spec.lookback}..{n} (the forecast needs "
                                 f"{spec.lookback} observed steps)")
        with self.lock, torch.no_grad(), self.model.autocast():
            predicted = self.model.forecast(torch.from_numpy(values[:origin]), horizon).numpy()
        ar, _ = fit_baselines(values[:spec.split[0]], spec)
        window = values[origin - spec.lookback:origin][None]
        truth = np.full_like(predicted, np.nan)
        truth[:n - origin] = values[origin:origin + horizon][:horizon]
        start = max(0, origin - max(5 * spec.lookback, 3 * horizon))
        return {"columns": list(spec.columns), "origin": origin, "horizon": horizon,
                "history_start": start, "history": finite_list(values[start:origin]),
                "forecast": finite_list(predicted), "truth": finite_list(truth),
                "baselines": {name: finite_list(v[0]) for name, v in
                              baselines(window, horizon, spec, ar).items()},
                "times": series.times[start:origin + min(horizon, n - origin)],
                "time_name": series.time_column or "step"}

    def generate(self, prompt: str, length: int, temperature: float, seed: int) -> dict[str, Any]:
        self.require("generate")
        if not 0 <= length <= MAX_TEXT:
            raise NeuralzooError(f"length {length} outside 0..{MAX_TEXT}")
        with self.lock, self.model.autocast():
            text = self.model.generate(prompt, length, temperature, torch.Generator().manual_seed(seed))
        return {"text": text, "prompt": prompt}
