"""Recurrent sequence models ``rnn``, ``lstm`` and ``gru``: one implementation, the cell is a field.

The task follows from the data (``DataInfo.task``), never from a flag that could disagree with it:
``classify`` (sequence -> class, from the final state or the mean over the real steps), ``forecast``
(a lookback window -> the next ``horizon`` values at once: the direct multi-step strategy) or
``text`` (characters -> the next character at every step). Constructing a model returns an instance
of a per-task subclass (``models/sequence_tasks.py``), so optional capabilities stay structural:
only classifiers have ``predict_proba``, only forecasters ``forecast``, only language models
``generate``.

Variable-length batches (``lengths``) go through ``pack_padded_sequence``: the cell never reads the
padding, so a padded sample gives exactly the result it gives alone. The recurrence runs in float32
even under bf16 autocast (long products of bf16 gates lose the state's precision).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from ..cards.sequence import GRU_CARD, LSTM_CARD, RNN_CARD
from ..fields import param
from ..errors import NeuralzooError
from ..registry import register
from .base import Model
from .sequence_config import SequenceConfig
from .sequence_tasks import TASKS

CELLS = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def steps_and_features(shape: tuple[int, ...]) -> tuple[int, int]:
    """(time steps, features per step) of one sample: (T, F) sequences, (T,) text, and (C, H, W)
    images read row by row (H steps of C * W features)."""
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) == 3:
        return shape[1], shape[0] * shape[2]
    return shape[0], 1


class Recurrent(Model):
    """The shared encoder; the task head comes from the per-task subclass chosen in ``__new__``."""

    Config = SequenceConfig
    _variants: ClassVar[dict[tuple[type, str], type]] = {}

    def __new__(cls, config=None, info=None, *args, **kwargs):
        return super().__new__(cls.for_task(getattr(info, "task", "classify")))

    @classmethod
    def for_task(cls, task: str) -> type[Model]:
        if task not in TASKS:
            raise NeuralzooError(f"model {cls.name!r} cannot learn task {task!r}")
        if any(base in TASKS.values() for base in cls.__mro__):
            return cls   # already a task variant
        key = (cls, task)
        if key not in Recurrent._variants:   # one class per (model, task): type(a) is type(b) holds
            Recurrent._variants[key] = type(cls.__name__, (TASKS[task], cls),
                                            {"__module__": cls.__module__, "__doc__": cls.__doc__})
        return Recurrent._variants[key]

    def __init__(self, config: SequenceConfig, info) -> None:
        super().__init__(config, info)
        if config.members > 1 and info.task != "forecast":
            raise NeuralzooError(f"members {config.members}: ensembles are for forecasting, not "
                                 f"{info.task!r} data; use --members 1")
        if config.scale_augment > 0 and info.task != "forecast":
            raise NeuralzooError(f"scale_augment is for forecasting, not {info.task!r} data; use "
                                 "--scale-augment 0")
        if config.instance_norm not in ("none", "auto") and info.task != "forecast":
            raise NeuralzooError(f"instance_norm: reversible instance normalisation is for forecasting, "
                                 f"not {info.task!r} data; use --instance-norm none")
        if info.task == "text":
            self.embedding = nn.Embedding(len(info.text.vocabulary), config.embedding_dim)
            in_features = config.embedding_dim
        else:
            in_features = steps_and_features(tuple(info.input_shape))[1]
        extra = {"nonlinearity": config.nonlinearity} if config.cell == "rnn" else {}
        self.rnn = CELLS[config.cell](in_features, config.hidden_size, config.num_layers,
                                      batch_first=True, bidirectional=config.bidirectional,
                                      dropout=config.dropout if config.num_layers > 1 else 0.0, **extra)
        self.features = config.hidden_size * (2 if config.bidirectional else 1)
        self.drop = nn.Dropout(config.dropout)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """Any accepted input -> (B, T, features) float32."""
        if hasattr(self, "embedding"):
            return self.embedding(x.long())          # (B, T) ids -> (B, T, E)
        if x.dim() == 4:                             # (B, C, H, W) images -> H rows of C * W
            x = x.permute(0, 2, 1, 3).flatten(2)
        elif x.dim() == 2:                           # (B, T) univariate
            x = x[..., None]
        return x.float()

    def recur(self, x: torch.Tensor, lengths: torch.Tensor | None = None, state=None):
        """(outputs (B, T, D), final (B, D), state): final is the last layer's state at each
        sequence's true end (forward) concatenated with its state at step 0 (backward). Not named
        ``encode``: that is the latent-code capability the ``embed`` command looks for."""
        x = self.steps(x)
        with torch.autocast(x.device.type, enabled=False):
            if lengths is None:
                outputs, state = self.rnn(x.float(), state)
            else:
                packed = pack_padded_sequence(x.float(), lengths.cpu(), batch_first=True,
                                              enforce_sorted=False)
                outputs, state = self.rnn(packed, state)
                outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        h = state[0] if isinstance(state, tuple) else state   # (layers * directions, B, H)
        final = torch.cat([h[-2], h[-1]], 1) if self.config.bidirectional else h[-1]
        return outputs, final, state

    def summarize(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """One (B, D) vector per sequence, by ``pooling``."""
        outputs, final, _ = self.recur(x, lengths)
        if self.config.pooling == "last":
            return self.drop(final)
        if lengths is None:
            return self.drop(outputs.mean(1))
        mask = torch.arange(outputs.shape[1], device=outputs.device) < lengths.to(outputs.device)[:, None]
        total = (outputs * mask[..., None]).sum(1)
        return self.drop(total / lengths.to(outputs.device)[:, None].clamp(min=1))


@dataclass
class RNNConfig(SequenceConfig):
    cell: Literal["rnn", "lstm", "gru"] = param("rnn", "recurrent cell: rnn (Elman, tanh), lstm or gru")


@dataclass
class GRUConfig(SequenceConfig):
    cell: Literal["rnn", "lstm", "gru"] = param("gru", "recurrent cell: rnn (Elman, tanh), lstm or gru")


@register(RNN_CARD)
class RNN(Recurrent):
    Config = RNNConfig


@register(LSTM_CARD)
class LSTM(Recurrent):
    Config = SequenceConfig


@register(GRU_CARD)
class GRU(Recurrent):
    Config = GRUConfig
