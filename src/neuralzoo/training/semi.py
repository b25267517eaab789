"""Semi-supervised steps: what the loop trains on when the training part holds unlabelled samples
(``--labels N``: label -1, ``data/labels.py``) or the model learns from unlabelled data.

A model class with ``uses_unlabelled = True`` (FixMatch, the M2 VAE, the semi-supervised GAN) gets
each step ``{"x": B_l labelled inputs, "y": their labels, "unlabelled_x": B_u inputs, "step",
"noise_seed"}``. The epoch runs over every training sample as unlabelled (B_u = ``batch_size``, the
epoch order as for any model): FixMatch (Sohn et al. 2020) and the improved GAN (Salimans et al.
2016) use all training images as unlabelled, the labelled ones included; those samples are gathered
without their labels (``without_labels``), so no label reaches the unlabelled part. The labelled part
(B_l = ``labelled_batch_size``) cycles through the labelled samples in its own shuffled order, a pure
function of (seed, step): a resumed run replays it without saved state. ``--augment`` applies to both
parts; under torchrun each rank keeps its rows of both global batches (``shard`` for the unlabelled
rows, ``labelled_shard`` for the labelled ones, for ``models.base.batch_noise``); the loss is scaled
by the unlabelled shard's share of its global batch, exact while ``labelled_batch_size`` divides
evenly over the processes.

Every other model trained with ``--labels`` sees only the labelled samples: the supervised baseline.
"""

from __future__ import annotations

import torch

from ..config import TrainConfig
from ..data.base import ArrayData
from ..data.labels import has_unlabelled, labelled_part, without_labels
from ..errors import NeuralzooError
from ..models.base import Model
from .batches import step_batch
from .context import Distributed, StepContext


def uses_unlabelled(model: Model) -> bool:
    return bool(getattr(model, "uses_unlabelled", False))


def check_semi_supervised(cfg: TrainConfig, model: Model, train: ArrayData) -> None:
    """Refuse, in one line and before a run directory exists, what cannot train on these parts."""
    if uses_unlabelled(model):
        if train.y is None or not (train.y >= 0).any():
            raise NeuralzooError(f"{model.name!r} learns from labelled and unlabelled samples; "
                                 f"{train.source or 'the training part'} has no labels")
        for setting, value in (("adversarial", cfg.adversarial != "none"),
                               ("dp_epsilon", cfg.dp_epsilon is not None)):
            if value:
                raise NeuralzooError(f"{setting} cannot be combined with {model.name!r}, which trains on "
                                     "unlabelled samples too")
    elif has_unlabelled(train) and cfg.dp_epsilon is not None:   # its accounting counts every sample
        raise NeuralzooError("dp_epsilon cannot be combined with --labels (train on the labelled samples "
                             "as their own data set instead)")


def training_parts(model: Model, train: ArrayData, cfg: TrainConfig
                   ) -> tuple[ArrayData, "LabelledStream | None", str]:
    """The part the epochs run over, the labelled stream beside it (``uses_unlabelled`` models) and a
    note for the protocol line ('' when the training part is used as it is)."""
    labelled = labelled_part(train)
    if uses_unlabelled(model):
        stream = LabelledStream(labelled, cfg.labelled_batch_size, cfg.seed)
        return without_labels(train), stream, (
            f"semi-supervised steps: {cfg.batch_size} of the {len(train)} training samples as unlabelled "
            f"(epoch order) + {cfg.labelled_batch_size} of the {len(labelled)} labelled ones (cycled)")
    if labelled is train:
        return train, None, ""
    return labelled, None, f"trained on the {len(labelled)} labelled samples alone"


class LabelledStream:
    """The labelled half of a semi-supervised step: B_l labelled samples per step, read in a
    shuffled order that is redrawn each time the stream has gone through the labelled samples."""

    def __init__(self, labelled: ArrayData, batch_size: int, seed: int) -> None:
        self.labelled, self.batch_size, self.seed = labelled, batch_size, seed

    def order(self, cycle: int) -> torch.Tensor:
        """The order of the ``cycle``-th pass through the labelled samples; its own seeds, apart
        from the epoch order's ``seed * 1_000_003 + epoch``."""
        seed = (self.seed * 1_000_003 + cycle) * 2 + 1
        return torch.randperm(len(self.labelled), generator=torch.Generator().manual_seed(seed))

    def indices(self, step: int) -> torch.Tensor:
        """The labelled samples of the global batch at optimizer step ``step``: a pure function of
        (seed, step), so a resumed run draws what the uninterrupted run drew."""
        n = len(self.labelled)
        positions = step * self.batch_size + torch.arange(self.batch_size)
        cycles, within = positions // n, positions % n
        index = torch.empty(self.batch_size, dtype=torch.int64)
        for cycle in torch.unique(cycles).tolist():   # one or two passes (more when B_l > n)
            rows = cycles == cycle
            index[rows] = self.order(cycle)[within[rows]]
        return index

    def extend(self, batch: dict[str, torch.Tensor], step: int, cfg: TrainConfig, ctx: StepContext,
               world: Distributed) -> dict[str, torch.Tensor]:
        """The loop's batch of unlabelled inputs (no ``y``) as the semi-supervised batch of ``step``."""
        index = self.indices(step)
        local = index[world.rank::world.world_size]
        labelled = step_batch(self.labelled, local, len(index), cfg, ctx, world, step, None)
        batch["unlabelled_x"] = batch.pop("x")
        if "lengths" in batch:
            batch["unlabelled_lengths"] = batch.pop("lengths")
        batch.update({k: labelled[k] for k in ("x", "y", "lengths") if k in labelled})
        if world.enabled:
            batch["labelled_shard"] = torch.tensor([world.rank, world.world_size, len(index)])
        return batch
