"""The three heads of the recurrent models (``models/sequence.py``), one class per task.

Each is mixed in front of ``rnn``/``lstm``/``gru`` when the data's ``DataInfo.task`` asks for it.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from ..data.series import apply_transform, inverse_transform
from ..data.series_choice import linear_coefficients, window_statistics
from ..errors import NeuralzooError
from .classifier import Classifier


class SequenceClassifier(Classifier):
    """Sequence -> class logits (B, K) from the pooled sequence summary."""

    reads_lengths = True

    def __init__(self, config, info) -> None:
        super().__init__(config, info)
        self.head = nn.Linear(self.features, self.num_classes)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.head(self.summarize(x, lengths))  # (B, K) logits


class SequenceForecaster:
    """Lookback window (B, lookback, F), scaled -> the next ``horizon`` values (B, horizon, F),
    scaled, all at once (the direct strategy: no feedback of errors inside the horizon)."""

    monitor = ("loss", "min")
    # the automatic budget's floor for forecasters: 10 epochs, not 4,000 steps. The network refines
    # a linear part already fitted in closed form, and on small series it overfits the residual:
    # benchmarks/forecast_peers.py, GRU, 6 series, mean MASE 0.698 at the 10-epoch floor, 0.796 at
    # 400 steps, worse at 4,000 (nile 2.03 against AR(10) 0.72)
    auto_min_steps = 0

    def __init__(self, config, info) -> None:
        super().__init__(config, info)
        spec = info.series
        self.horizon, self.outputs = spec.horizon, len(spec.columns)
        # auto: the normalisation the data chose on its validation part (data/series_choice.py)
        self.window_norm = spec.instance_norm if config.instance_norm == "auto" else config.instance_norm
        self.linear_fit = spec.linear_fit if config.linear_fit == "auto" else config.linear_fit
        if self.linear_fit == "seasonal-naive" and not spec.period <= spec.lookback:
            raise NeuralzooError(f"linear_fit seasonal-naive needs a lookback ({spec.lookback}) of at "
                                 f"least one period ({spec.period}); raise --lookback")
        self.head = nn.Linear(self.features, self.horizon * self.outputs)
        if config.linear_skip:   # an AR(lookback) model in parallel: the network learns its residual
            self.skip = nn.Linear(spec.lookback * self.outputs, self.horizon * self.outputs)
        self.register_buffer("mean", torch.tensor(spec.mean), persistent=False)
        self.register_buffer("std", torch.tensor(spec.std), persistent=False)
        if config.instance_affine:   # RevIN's affine (Kim et al. 2022, eq. 2), kept as log-scale and
            # shift so that the L2 weight decay pulls it towards the identity, not towards scale 0
            self.norm_log_scale = nn.Parameter(torch.zeros(self.outputs))
            self.norm_shift = nn.Parameter(torch.zeros(self.outputs))
        if config.members > 1:   # this network is member 0; the others are full copies, own init
            single = replace(config, members=1)
            self.others = nn.ModuleList(type(self)(single, info) for _ in range(config.members - 1))

    def member_forecasts(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each member's forecast (B, horizon, F), scaled."""
        norm = self.window_norm != "none"
        z, stats = self.normalise(x.float()) if norm else (x.float(), None)
        out = self.head(self.summarize(z, lengths)).float()
        if hasattr(self, "skip"):   # the linear part in float32 even under bf16 autocast: it carries
            with torch.autocast(z.device.type, enabled=False):   # the forecast, not a residual
                out = out + self.skip(z.float().flatten(1))
        out = out.view(-1, self.horizon, self.outputs)
        if stats is not None:
            out = self.denormalise(out, stats)
        others = [m.member_forecasts(x, lengths)[0] for m in getattr(self, "others", [])]
        return [out, *others]

    def normalise(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple]:
        """RevIN's normalisation (Kim et al. ICLR 2022, eq. 1-2) of a scaled window (B, L, F) to
        z = (x - loc) / scale (``data.series_choice.window_statistics``: shift, standardise or
        level), then the optional affine."""
        loc, scale = window_statistics(x, self.window_norm, self.mean, self.std)   # (B, 1, F) each
        z = (x - loc) / scale                                                      # (B, L, F)
        if self.config.instance_affine:
            z = z * self.norm_log_scale.exp() + self.norm_shift
        return z, (loc, scale)

    def denormalise(self, out: torch.Tensor, stats: tuple) -> torch.Tensor:
        """The inverse of ``normalise`` (eq. 3) applied to a forecast (B, horizon, F)."""
        mu, sigma = stats
        if self.config.instance_affine:
            out = (out - self.norm_shift) / self.norm_log_scale.exp()
        return out * sigma + mu

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return torch.stack(self.member_forecasts(x, lengths)).mean(0)   # (B, horizon, F)

    def prepare(self, cfg, train) -> None:
        """linear_fit other than joint: the linear term is set from the training windows
        (``data.series_choice.linear_coefficients``: least squares with intercept, or fixed) and
        frozen, so the recurrent part only learns its residuals."""
        super().prepare(cfg, train)
        for member in getattr(self, "others", []):
            member.prepare(cfg, train)
        if not self.config.linear_skip or self.linear_fit == "joint":
            return
        x, y = train.x.double(), train.y.double()
        if self.window_norm != "none":   # the skip sees normalised windows: fit it in that space
            with torch.no_grad():
                x, (mu, sigma) = self.normalise(x)   # in float64, so the rank deficiency is exact
            y = (y - mu) / sigma
        coef = linear_coefficients(x, y, self.linear_fit, self.info.series.period)   # (L*F + 1, H*F)
        with torch.no_grad():
            self.skip.weight.copy_(coef[:-1].T)
            self.skip.bias.copy_(coef[-1])
            # the network's output starts at zero: the hybrid starts as the linear model and the
            # network learns its residual (Zhang 2003), so a short or noisy fit stays near it
            self.head.weight.zero_()
            self.head.bias.zero_()
        self.skip.requires_grad_(False)
        self.starts_as_baseline = True   # the loop validates this start too: kept if never beaten

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Mean squared error in training-scaled units. An ensemble's loss is the sum of its
        members' errors: they share no parameters, so each gets exactly the gradient it would get
        alone (an L2 weight decay included); ``ensemble_mse`` is the error of their mean."""
        x, y = batch["x"], batch["y"]
        if self.training and self.config.scale_augment > 0:   # Um et al. 2017's scaling, per window
            u = (torch.rand(len(x), 1, 1, device=x.device) * 2 - 1) * self.config.scale_augment
            zero = -self.mean / self.std                      # the data's 0 in scaled units, (F,)
            x, y = (x - zero) * u.exp() + zero, (y - zero) * u.exp() + zero   # (B, L, F), (B, H, F)
        forecasts = [f.float() for f in self.member_forecasts(x)]   # each (B, horizon, F)
        error = torch.stack(forecasts).mean(0) - y
        result = {"loss": torch.stack([(f - y).pow(2).mean() for f in forecasts]).sum(),
                  "mae": error.abs().mean()}
        if len(forecasts) > 1:
            result["ensemble_mse"] = error.pow(2).mean()
        return result

    @torch.no_grad()
    def forecast(self, history: torch.Tensor, steps: int) -> torch.Tensor:
        """The next ``steps`` values (steps, F) in the data's units after ``history`` (L >= lookback,
        F) in the same units; beyond the trained horizon the forecasts are fed back (recursive)."""
        lookback = self.info.series.lookback
        history = history[:, None] if history.dim() == 1 else history   # one column
        if history.dim() != 2 or history.shape[0] < lookback or history.shape[1] != self.outputs:
            raise NeuralzooError(f"forecast needs a history of at least {lookback} steps of "
                                 f"{self.outputs} value(s), got shape {tuple(history.shape)}")
        was_training = self.training
        self.eval()
        transform = self.info.series.transform
        window = torch.from_numpy(apply_transform(history[-lookback:].double().cpu().numpy(), transform))
        window = (window.float().to(self.mean.device) - self.mean) / self.std
        out = []
        while sum(len(o) for o in out) < steps:
            predicted = self(window[None])[0].float()        # (horizon, F)
            out.append(predicted)
            window = torch.cat([window, predicted])[-lookback:]
        self.train(was_training)
        return inverse_transform(torch.cat(out)[:steps] * self.std + self.mean, transform).cpu()


class CharLanguageModel:
    """Characters (B, T) -> logits of the next character at every step (B, T, V)."""

    monitor = ("loss", "min")

    def __init__(self, config, info) -> None:
        if config.bidirectional:
            raise NeuralzooError("bidirectional: a language model must not read the characters it "
                                 "predicts; use --no-bidirectional")
        super().__init__(config, info)
        self.vocabulary: str = info.text.vocabulary
        self.head = nn.Linear(self.features, len(self.vocabulary))

    def forward(self, x: torch.Tensor, state=None) -> torch.Tensor:
        outputs, _, _ = self.recur(x, None, state)
        return self.head(self.drop(outputs))   # (B, T, V) logits

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        logits = self(batch["x"]).float()
        y = batch["y"]
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())   # nats per character
        return {"loss": loss, "bits_per_char": loss / math.log(2),
                "accuracy": (logits.argmax(-1) == y).float().mean()}

    def encode_text(self, text: str) -> torch.Tensor:
        unknown = sorted(set(text) - set(self.vocabulary))
        if unknown:
            raise NeuralzooError(f"prompt has characters outside the training vocabulary: "
                                 f"{''.join(unknown)[:20]!r}")
        lookup = {c: i for i, c in enumerate(self.vocabulary)}
        return torch.tensor([lookup[c] for c in text], dtype=torch.long)

    @torch.no_grad()
    def generate(self, prompt: str = "", length: int = 500, temperature: float = 1.0,
                 generator: torch.Generator | None = None) -> str:
        """``prompt`` followed by ``length`` sampled characters (temperature 0: always the most
        likely one). The prompt is read once; each new character costs one step of the cell."""
        if temperature < 0 or length < 0:
            raise NeuralzooError("temperature and length must be >= 0")
        prompt = prompt or ("\n" if "\n" in self.vocabulary else self.vocabulary[0])
        was_training = self.training
        self.eval()
        device = self.head.weight.device
        ids = self.encode_text(prompt).to(device)[None]
        outputs, _, state = self.recur(ids)
        logits = self.head(outputs[:, -1]).float()       # (1, V)
        out = []
        unknown = self.vocabulary.find("\ufffd")   # stands for unseen characters: never emitted
        for _ in range(length):
            if unknown >= 0:
                logits[:, unknown] = float("-inf")
            if temperature == 0:
                nxt = logits.argmax(-1)
            else:
                probs = F.softmax(logits / temperature, -1).cpu()
                nxt = torch.multinomial(probs, 1, generator=generator)[:, 0].to(device)
            out.append(self.vocabulary[int(nxt)])
            outputs, _, state = self.recur(nxt[:, None], None, state)
            logits = self.head(outputs[:, -1]).float()
        self.train(was_training)
        return prompt + "".join(out)


TASKS = {"classify": SequenceClassifier, "forecast": SequenceForecaster, "text": CharLanguageModel}
