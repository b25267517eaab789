"""Membership inference (``neuralzoo audit``): can an attacker tell the run's training samples from
samples it never saw by the model's loss on them?

The loss-threshold attack (Yeom et al. 2018, "Privacy risk in machine learning"): guess "member" when
a sample's loss is below a threshold. Over every threshold this is the ROC of the score -loss on
equally many training and held-out (test) samples: its area (AUC, 0.5 = chance) and the membership
advantage, max over thresholds of TPR - FPR (Yeom et al.'s Definition 4; their Theorem 1 bounds it
by e^epsilon - 1 for an epsilon-differentially private training algorithm). The calibrated attack
with shadow models (Shokri et al. 2017; Carlini et al. 2022's LiRA) trains tens of runs per audit and
is not run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

import torch.nn.functional as F
from sklearn.metrics import roc_auc_score, roc_curve

from ..data.base import ArrayData
from ..models.base import Model
from ..training.checkpoint import describe
from ..training.privacy import spent

SHADOW_NOTE = ("loss-threshold attack (Yeom et al. 2018) only; the shadow-model calibrated attack "
               "(Shokri et al. 2017) needs many extra training runs per audit and is not run")


def per_sample_loss(model: Model, part: ArrayData, count: int) -> np.ndarray:
    """Cross-entropy of each of the first ``count`` samples of ``part`` (float32, eval mode)."""
    x, y = part.x[:count], part.y[:count]
    logits = model.infer(lambda rows: model(rows).float(), x)
    return F.cross_entropy(logits.float(), y, reduction="none").numpy()


def membership_inference(model: Model, train: ArrayData, held_out: ArrayData,
                         limit: int | None = None) -> dict[str, Any]:
    """AUC and advantage of the loss-threshold attack on ``count`` training samples against as many
    held-out ones (count: the smaller part, at most ``limit``)."""
    count = min(len(train), len(held_out), limit or len(train))
    members = per_sample_loss(model, train, count)
    others = per_sample_loss(model, held_out, count)
    truth = np.r_[np.ones(count), np.zeros(count)]
    score = -np.r_[members, others]   # lower loss: more likely a member
    fpr, tpr, _ = roc_curve(truth, score)
    return {"attack": "loss threshold (Yeom et al. 2018)", "samples_each": count,
            "members": f"the first {count} training samples",
            "non_members": f"the first {count} test samples",
            "auc": float(roc_auc_score(truth, score)), "advantage": float(np.max(tpr - fpr)),
            "mean_loss_members": float(members.mean()), "mean_loss_non_members": float(others.mean()),
            "note": SHADOW_NOTE}


def run_privacy(run_dir: Path, checkpoint: str) -> dict[str, Any]:
    """The differential privacy a run spent (its ``last`` checkpoint's accountant, as ``evaluate``'s
    privacy block reports it: the best checkpoint was chosen among all the iterates) under
    ``dp_epsilon`` and ``privacy``, and the robustness block of its eval.json where it has one."""
    found: dict[str, Any] = {}
    evaluation = run_dir / "eval.json"
    if evaluation.is_file():
        try:
            saved = json.loads(evaluation.read_text())
        except (ValueError, UnicodeDecodeError):
            saved = {}
        if isinstance(saved.get("robustness"), dict):
            found["robustness"] = saved["robustness"]
    last = Path(checkpoint).with_name("last.safetensors")
    block = spent(describe(last if last.is_file() else checkpoint)["state"])
    if block:
        found["dp_epsilon"], found["privacy"] = block["epsilon"], block
    return found


def audit_data(model: Model) -> tuple[ArrayData, ArrayData]:
    """The run's own training samples (its ``limit`` and validation split kept, which evaluation
    drops) and its test split, in the model's terms."""
    from dataclasses import replace

    from ..errors import NeuralzooError
    from .data import eval_data_config, load_eval_data

    config = replace(eval_data_config(model, {}), limit=model.run_config.data.limit)
    data = load_eval_data(model, config, need_validation=True)
    if len(data.train) == 0 or data.test is None or len(data.test) == 0 or data.test.y is None:
        raise NeuralzooError(f"{data.info.name}: the audit needs the run's training part and a labelled "
                             "test split")
    return data.train, data.test
