"""The training settings: ``TrainConfig``, one frozen dataclass shared by every model; every field is a
``--kebab-case`` flag of ``train`` (the flags, the saved config and the docs derive from it through
``fields.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .errors import NeuralzooError
from .fields import check_choices, param


@dataclass(frozen=True)
class TrainConfig:
    """How to train: shared by every model. Every field is a ``--kebab-case`` flag of ``train``."""

    epochs: int | None = param(None, "passes over the training data (default: an automatic budget: "
                                     "at least auto_min_steps updates and 10 epochs, stopped early "
                                     "when the validation monitor stops improving)")
    auto_min_steps: int | None = param(None, "automatic budget (no --epochs): plan at least this "
                                       "many optimizer steps, so small data sets get enough updates "
                                       "(default: 4000; forecasters: none beyond the 10 epochs)")
    batch_size: int = param(128, "global batch size (split across processes under torchrun); models "
                                 "that use unlabelled data: the unlabelled samples per step")
    labelled_batch_size: int = param(64, "models that use unlabelled data (fixmatch, ...): the labelled "
                                         "samples per step, cycled through the labelled part")
    lr: float = param(1e-3, "peak learning rate")
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop"] = param("adam", "optimizer")
    momentum: float = param(0.9, "SGD/RMSprop momentum")
    weight_decay: float = param(0.0, "weight decay (decoupled for adamw, L2 otherwise)")
    schedule: Literal["constant", "cosine", "one-cycle"] = param("constant", "learning-rate schedule "
                                                                 "over the whole run")
    warmup_fraction: float = param(0.0, "fraction of steps with a linear warm-up (constant/cosine)")
    grad_clip: float | None = param(None, "clip the global gradient norm to this value")
    on_nonfinite: Literal["stop", "skip", "rollback"] = param(
        "stop", "a NaN/inf loss or gradient: stop (the last checkpoint kept), skip the update, or "
                "rollback to the last checkpoint with half the learning rate")
    max_rollbacks: int = param(3, "--on-nonfinite rollback: give up after this many rollbacks")
    seed: int = param(0, "random seed (initialisation, shuffling, dropout)")
    device: Literal["auto", "cpu", "cuda"] = param("auto", "auto picks cuda when available")
    bf16: Literal["auto", "on", "off"] = param("auto", "bfloat16 autocast (auto: on where the "
                                                "hardware computes bf16 natively)")
    channels_last: bool = param(True, "channels-last memory format for image models")
    compile: bool = param(False, "torch.compile the model's training step")
    threads: int | None = param(None, "torch intra-op threads (default: torch's choice)")
    augment: Literal["none", "shift", "affine"] = param("none", "batched image augmentation: "
                                                        "random shifts, or rotation/scale/shift")
    # adversarial training (training/adversarial.py): the batch's inputs perturbed before the loss
    adversarial: Literal["none", "pgd", "fgsm-rs", "trades"] = param(
        "none", "classifiers: train on L-infinity adversarial inputs: pgd (Madry et al. 2018), "
                "fgsm-rs, FGSM from a random start (Wong et al. 2020), about steps+1 times cheaper, or "
                "trades: clean cross-entropy plus adversarial_beta times the KL divergence of the PGD "
                "inputs' predictions from the clean ones (Zhang et al. 2019)")
    adversarial_eps: float | None = param(None, "--adversarial: the L-infinity radius in the model's "
                                          "input units (pixels in [0, 1]; MNIST: 0.3) (default: none, "
                                          "required with --adversarial)")
    adversarial_steps: int = param(40, "--adversarial pgd: attack steps per batch (Madry et al. 2018: 40)")
    adversarial_step_size: float | None = param(None, "--adversarial: attack step size (default: pgd "
                                                "0.01 as Madry et al. 2018; fgsm-rs 1.25 eps as Wong "
                                                "et al. 2020)")
    adversarial_beta: float = param(6.0, "--adversarial trades: weight of the KL term, 1/lambda (Zhang "
                                    "et al. 2019: 6 for MNIST and CIFAR-10)")
    label_smoothing: float = param(0.0, "label smoothing for classifiers")
    class_balance: Literal["none", "weights", "resample", "logit-adjust"] = param(
        "none", "classifiers on skewed classes: weights (the loss weighted by inverse class frequency, "
                "n / (K * count)), resample (each epoch drawn with replacement, a sample's chance "
                "1 / its class count, so classes are equally frequent), or logit-adjust (Menon et al. "
                "2021: the cross-entropy of logits + tau * log prior, the training class frequencies; "
                "predictions use the plain logits)")
    logit_adjust_tau: float = param(1.0, "--class-balance logit-adjust: tau, the scale of the log prior "
                                         "(Menon et al. 2021: 1)")
    logit_adjust_at: Literal["training", "prediction"] = param(
        "training", "--class-balance logit-adjust: in the training loss, or at prediction (post-hoc: "
                    "plain cross-entropy, then tau * log prior subtracted from the logits of every "
                    "prediction, validation included; the checkpoint keeps the offset)")
    class_weights: Literal["none", "balanced"] = param("none", "older spelling of --class-balance: "
                                                       "balanced is --class-balance weights")
    patience: int | None = param(None, "early stopping: validations without improvement of the "
                                 "monitored metric (default: off with --epochs; with the automatic "
                                 "budget a quarter of its validations, at least 10, never before half of it)")
    monitor: str | None = param(None, "validation metric for best checkpoint and early stopping "
                                "(default: the model's, e.g. accuracy)")
    max_steps: int | None = param(None, "stop after this many optimizer steps (smoke runs)")
    max_minutes: float | None = param(None, "stop once the training steps (validation and checkpoints "
                                            "not counted) have taken this long: fixed-budget runs")
    log_every: int = param(50, "steps between training log lines in metrics.jsonl")
    checkpoint_every: int | None = param(None, "also checkpoint every N steps inside an epoch")
    sample_every: int = param(0, "generative models: every N epochs a grid of samples from fixed noise "
                                 "-> RUN_DIR/samples/epoch_NNNN.png and their class histogram in "
                                 "metrics.jsonl (0: off; GANs: 1)")
    eval_batch_size: int = param(1000, "batch size for validation and evaluation")
    tensorboard: bool = param(False, "also write TensorBoard event files to RUN_DIR/tensorboard")
    progress: bool = param(True, "show a progress bar (on terminals only)")
    baselines: bool = param(True, "at the end, compare the best checkpoint on validation with the "
                                  "baselines evaluate shows (e.g. logistic regression) and warn when behind")
    verbose: bool = param(True, "print one line per epoch (step, validation metrics, training time)")
    dp_epsilon: float | None = param(None, "differentially private training (DP-SGD with Opacus: pip install "
                                           "'neuralzoo[privacy]'): the epsilon spent by the end of the "
                                           "planned steps; the noise is calibrated to reach it (default: off)")
    dp_delta: float | None = param(None, "DP-SGD's delta; below 1/N for N training samples (default: "
                                         "min(1e-5, 1/(10 N)))")
    dp_max_grad_norm: float = param(1.0, "DP-SGD: each sample's gradient is clipped to this L2 norm")
    dp_accountant: Literal["prv", "rdp"] = param("prv", "DP-SGD privacy accountant: prv (privacy random "
                                                 "variables, Gopi et al. 2021) or rdp (Renyi DP, Mironov 2017)")

    def __post_init__(self) -> None:
        positive = ("batch_size", "labelled_batch_size", "log_every", "eval_batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise NeuralzooError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.auto_min_steps is not None and self.auto_min_steps < 0:
            raise NeuralzooError(f"auto_min_steps must be 0 or more, got {self.auto_min_steps}")
        for name in ("epochs", "max_steps", "checkpoint_every", "patience", "threads"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise NeuralzooError(f"{name} must be a positive integer, got {value}")
        if self.sample_every < 0:
            raise NeuralzooError(f"sample_every must be >= 0 (0: off), got {self.sample_every}")
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise NeuralzooError(f"max_minutes must be positive, got {self.max_minutes}")
        if not self.lr > 0:
            raise NeuralzooError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise NeuralzooError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if not 0 <= self.warmup_fraction < 1:
            raise NeuralzooError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if self.max_rollbacks < 0:
            raise NeuralzooError(f"max_rollbacks must be >= 0, got {self.max_rollbacks}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise NeuralzooError(f"grad_clip must be positive, got {self.grad_clip}")
        if not 0 <= self.label_smoothing < 1:
            raise NeuralzooError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.dp_epsilon is not None and not 0 < self.dp_epsilon < float("inf"):
            raise NeuralzooError(f"dp_epsilon must be a positive number, got {self.dp_epsilon}")
        if self.dp_delta is not None and not 0 < self.dp_delta < 1:
            raise NeuralzooError(f"dp_delta must be in (0, 1), got {self.dp_delta}")
        if self.dp_delta is not None and self.dp_epsilon is None:
            raise NeuralzooError("dp_delta applies to differentially private training: give --dp-epsilon too")
        if not 0 < self.dp_max_grad_norm < float("inf"):
            raise NeuralzooError(f"dp_max_grad_norm must be a positive number, got {self.dp_max_grad_norm}")
        check_choices(self)
        self.check_class_balance()
        if self.adversarial != "none" and (self.adversarial_eps is None or self.adversarial_eps < 0):
            raise NeuralzooError(f"adversarial_eps must be given and >= 0 with --adversarial, got "
                                 f"{self.adversarial_eps}")
        if self.adversarial_steps < 1 or (self.adversarial_step_size is not None
                                          and not self.adversarial_step_size > 0):
            raise NeuralzooError("adversarial_steps must be >= 1 and adversarial_step_size positive, got "
                                 f"{self.adversarial_steps} and {self.adversarial_step_size}")
        if not 0 < self.adversarial_beta < float("inf"):
            raise NeuralzooError(f"adversarial_beta must be a positive number, got {self.adversarial_beta}")
        if self.adversarial != "none" and self.dp_epsilon is not None:
            raise NeuralzooError("adversarial and dp_epsilon: one or the other; adversarial training's "
                                 "extra passes are not accounted for by DP-SGD's per-sample clipping")

    def check_class_balance(self) -> None:
        """``class_weights balanced`` (the older spelling, kept so saved configs load) becomes
        ``class_balance weights``; ``class_weights`` is then left at none, so a later layer (a flag over
        a saved config) may choose another method. Both naming different methods is refused."""
        if self.class_weights == "balanced":
            if self.class_balance not in ("none", "weights"):
                raise NeuralzooError(f"class_weights 'balanced' and class_balance {self.class_balance!r} "
                                     "contradict each other: give one (class_weights balanced is "
                                     "class_balance weights)")
            object.__setattr__(self, "class_balance", "weights")
            object.__setattr__(self, "class_weights", "none")
        if not 0 < self.logit_adjust_tau < float("inf"):
            raise NeuralzooError(f"logit_adjust_tau must be a positive number, got {self.logit_adjust_tau}")
        for name, default in (("logit_adjust_tau", 1.0), ("logit_adjust_at", "training")):
            if getattr(self, name) != default and self.class_balance != "logit-adjust":
                raise NeuralzooError(f"{name} applies to --class-balance logit-adjust, not to "
                                     f"class_balance {self.class_balance!r}")
