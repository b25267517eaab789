"""``NeuralZooClassifier``: every registered classifier (MLP, CNN, RNN/LSTM/GRU) as a scikit-learn
classifier."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from .base import NeuralZooEstimator, _validate


class NeuralZooClassifier(ClassifierMixin, NeuralZooEstimator):
    """A neuralzoo classifier in scikit-learn's conventions.

    ``X``: ``(N, D)`` rows (an image model reads a square D as a ``(1, s, s)`` image, or give
    ``image_shape``; a recurrent model reads D steps of one value), ``(N, H, W)`` grey images,
    ``(N, C, H, W)`` images or ``(N, T, F)`` sequences. ``y``: any labels (strings too), kept in
    ``classes_``. ``model``: mlp, cnn, rnn, lstm or gru (``NeuralZooClassifier.models()``); every
    training setting and ``model__FIELD`` is a parameter (see ``neuralzoo.sklearn``).
    """

    default_model = "mlp"
    task = "classify"
    capability = "predict_proba"

    def fit(self, X: Any, y: Any) -> "NeuralZooClassifier":
        x, y = _validate(self, X, y, reset=True, allow_nd=True, dtype=np.float32)
        check_classification_targets(y)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"y holds {len(self.classes_)} class; a classifier needs at least two")
        return self._train(x, index.astype(np.int64), [str(c) for c in self.classes_])

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities (N, n_classes), columns in the order of ``classes_``."""
        x = self._inputs(X)
        return self.model_.predict_proba(x).double().numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        import torch

        x = self._inputs(X)
        return torch.log_softmax(self.model_.predict_logits(x).double(), 1).numpy()

    def decision_function(self, X: Any) -> np.ndarray:
        """The logits (N, n_classes); for two classes the margin of the second, (N,)."""
        x = self._inputs(X)
        logits = self.model_.predict_logits(x).double().numpy()
        return logits[:, 1] - logits[:, 0] if logits.shape[1] == 2 else logits

    def predict(self, X: Any) -> np.ndarray:
        x = self._inputs(X)
        return self.classes_[np.argmax(self.model_.predict_logits(x).numpy(), axis=1)]
