"""Shared behaviour of the classifiers (MLP, CNN, later sequence classifiers).

The loss is the mean cross-entropy of the logits (computed in float32 even under bf16 autocast, since
log-softmax of bf16 logits loses about 2-3 significant digits), optionally with label smoothing and one
remedy for skewed classes (``--class-balance``): class weights (n_samples / (n_classes * count),
scikit-learn's ``balanced`` rule), or logit adjustment (Menon et al. 2021, "Long-tail learning via
logit adjustment": training minimises the cross-entropy of ``logits + tau * log prior``, the prior the
training class frequencies, so the plain logits, which predictions use, estimate the balanced
posterior; or post-hoc, ``--logit-adjust-at prediction``: plain cross-entropy, and ``tau * log prior``
subtracted from the logits in eval mode, a buffer the checkpoint keeps, so every prediction, export
and validation sees the adjusted logits). The third remedy, resampling, is the loop's epoch order
(``training/loop.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from ..errors import NeuralzooError
from .base import Model

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data.base import ArrayData, DataInfo


class Classifier(Model):
    monitor = ("accuracy", "max")
    reads_lengths = False   # forward(x, lengths) for padded variable-length sequences (rnn/lstm/gru)

    def __init__(self, config, info: "DataInfo") -> None:
        super().__init__(config, info)
        if not info.num_classes:
            raise NeuralzooError(f"model {self.name!r} is a classifier and needs labelled data; "
                                 f"{info.name!r} has no labels")
        self.num_classes = info.num_classes
        self.register_buffer("class_weights", torch.ones(info.num_classes))
        # tau * log prior added to the logits of the training loss (zeros: off); not saved, since
        # prediction never uses it (prepare sets it again on resume)
        self.register_buffer("logit_adjustment", torch.zeros(info.num_classes), persistent=False)
        # post-hoc logit adjustment: subtracted from the logits in eval mode once adjust_predictions ran
        self.register_buffer("prediction_adjustment", torch.zeros(info.num_classes))
        self.label_smoothing = 0.0

    def prepare(self, cfg: "TrainConfig", train: "ArrayData") -> None:
        if train.lengths is not None:
            self.refuse_padding(train.source)
        self.label_smoothing = cfg.label_smoothing
        if cfg.class_balance == "resample" and self.uses_unlabelled:
            raise NeuralzooError(f"class_balance 'resample' draws labelled samples by class; {self.name!r} "
                                 "also reads every unlabelled sample, so use weights or logit-adjust")
        counts = torch.bincount(train.y[train.y >= 0], minlength=self.num_classes).float()
        if cfg.class_balance == "weights":
            self.class_weights.copy_(counts.sum() / (self.num_classes * counts.clamp(min=1)))
        elif cfg.class_balance == "logit-adjust":
            if (counts == 0).any():   # log 0: the class could never win its adjusted cross-entropy
                missing = int(torch.nonzero(counts == 0)[0, 0])
                names = self.info.class_names or [str(i) for i in range(self.num_classes)]
                raise NeuralzooError(f"{train.source}: class_balance logit-adjust needs a training "
                                     f"sample of every class; class {names[missing]!r} has none")
            log_prior = cfg.logit_adjust_tau * torch.log(counts / counts.sum())
            if cfg.logit_adjust_at == "training":
                self.logit_adjustment.copy_(log_prior)
            else:
                self.prediction_adjustment.copy_(log_prior)
                self.adjust_predictions()

    def adjust_predictions(self) -> None:
        """Subtract ``prediction_adjustment`` from the output of ``forward`` in eval mode (Menon et al.
        2021's post-hoc correction); a hook, so every path to the logits (predict, evaluation,
        validation, ONNX export) sees it, and models trained without it are left untouched."""
        if not getattr(self, "_adjusting", False):
            self.register_forward_hook(_adjusted_logits)
            self._adjusting = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        key = prefix + "prediction_adjustment"   # checkpoints from before post-hoc adjustment: none
        if key not in state_dict:
            state_dict[key] = torch.zeros_like(self.prediction_adjustment)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        if state_dict[key].any():
            self.adjust_predictions()

    def check_data(self, train: "ArrayData") -> None:
        present = torch.unique(train.y[train.y >= 0])   # -1: unlabelled (--labels)
        if len(present) < 2:   # it would learn a constant and report 100% accuracy
            names = self.info.class_names or [str(i) for i in range(self.num_classes)]
            only = f" ({names[int(present[0])]!r})" if len(present) else ""
            raise NeuralzooError(f"{train.source}: the training labels hold {len(present)} class{only}; "
                                 "a classifier needs at least two")

    def refuse_padding(self, where: str) -> None:
        """Padded variable-length sequences (with lengths) reach only models that read the lengths; one
        that reads whole samples would read the padding. ``where``: the file or field that holds them."""
        if not self.reads_lengths:
            raise NeuralzooError(f"{where}: {self.name!r} reads whole samples and would read the padding "
                                 "of variable-length sequences (lengths); they need a sequence model "
                                 "(rnn, lstm, gru)")

    def loss(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        lengths = batch.get("lengths") if self.reads_lengths else None
        inputs = (batch["x"],) if lengths is None else (batch["x"], lengths)
        logits = self(*inputs).float()  # (B, K); variable-length sequences also take their lengths
        out = self.metrics_from_logits(logits, batch["y"])
        if "adversarial_x" in batch:
            # TRADES (Zhang et al. 2019, eq. 5): + beta KL(f(x) || f(x')) for the batch's PGD inputs x'
            # (training.adversarial), averaged over the batch
            log_q = F.log_softmax(self(batch["adversarial_x"], *inputs[1:]).float(), 1)   # (B, K)
            out["robust_kl"] = F.kl_div(log_q, F.softmax(logits, 1), reduction="batchmean")
            out["loss"] = out["loss"] + batch["adversarial_weight"] * out["robust_kl"]
        return out

    def metrics_from_logits(self, logits: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """``loss``'s metrics from logits (N, K) already computed: the evaluation's single pass
        gives the probabilities and these from the same forward."""
        # logit adjustment is a training objective only: validation and evaluation score plain logits
        adjusted = logits + self.logit_adjustment if self.training else logits
        loss = F.cross_entropy(adjusted, y, weight=self.class_weights, label_smoothing=self.label_smoothing)
        return {"loss": loss, "accuracy": (logits.argmax(1) == y).float().mean()}

    @torch.no_grad()
    def predict_logits(self, x: Any, batch_size: int = 256,
                       lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N, K) in float32, in eval mode in batches (``x`` and ``lengths`` as in
        ``predict_proba``)."""
        x = self.as_input(x)
        if lengths is not None:
            self.refuse_padding("lengths")
        inputs = (x,) if lengths is None else (x, lengths)
        return self.infer(lambda *rows: self(*rows).float(), *inputs, batch_size=batch_size)

    @torch.no_grad()
    def predict_proba(self, x: Any, batch_size: int = 256,
                      lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Class probabilities (N, K) in float32, computed in eval mode in batches. ``x``: NumPy or
        torch, any real dtype, one-channel images with or without the channel axis (``as_input``);
        ``lengths``: the true lengths of padded variable-length sequences (models that read them)."""
        return F.softmax(self.predict_logits(x, batch_size, lengths), 1)

    def predict(self, x: Any, batch_size: int = 256, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """The most probable class of each sample (N,), as ``predict_proba`` takes ``x``."""
        return self.predict_logits(x, batch_size, lengths).argmax(1)


def _adjusted_logits(module: Classifier, inputs: Any, logits: torch.Tensor) -> torch.Tensor:
    """The forward hook of post-hoc logit adjustment (a function, so the model still pickles)."""
    return logits if module.training else logits - module.prediction_adjustment.to(logits.dtype)
