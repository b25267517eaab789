"""Loss functions: ``forward(prediction, target) -> float`` then ``backward() -> dL/d(prediction)``.

All losses average over every element (torch's default ``reduction="mean"``), so their gradients
carry the matching 1/N factor; forgetting it is a classic reason for "my learning rate must be tiny".
"""

from __future__ import annotations

import numpy as np

from .layers import Array, sigmoid


class Loss:
    """Base class: remembers what ``backward`` needs from the last ``forward``."""

    def forward(self, prediction: Array, target: Array) -> float:
        raise NotImplementedError

    def backward(self) -> Array:
        raise NotImplementedError

    def __call__(self, prediction: Array, target: Array) -> float:
        return self.forward(prediction, target)


def log_softmax(logits: Array) -> Array:
    """log softmax over the last axis via the log-sum-exp trick: z - max(z) - log sum exp(z - max(z))."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class SoftmaxCrossEntropy(Loss):
    """Softmax followed by cross-entropy, fused (like ``torch.nn.CrossEntropyLoss``).

    Inputs: logits z (N, K), integer class labels t (N,).
    Forward:  p = softmax(z);  L = -(1/N) sum_n log p[n, t_n]
              log p is computed as z - logsumexp(z) with the max subtracted first, so large logits
              never overflow and tiny probabilities never give log(0).
    Backward: dL/dz = (p - onehot(t)) / N
              Fusing the two is why the gradient is this simple: the softmax Jacobian and the
              derivative of the log cancel.
    """

    def forward(self, prediction: Array, target: Array) -> float:
        log_probabilities = log_softmax(prediction)
        self.target = np.asarray(target, dtype=np.int64)
        self.probabilities = np.exp(log_probabilities)
        rows = np.arange(len(self.target))
        return float(-log_probabilities[rows, self.target].mean())

    def backward(self) -> Array:
        grad = self.probabilities.copy()
        grad[np.arange(len(self.target)), self.target] -= 1.0
        return grad / len(self.target)


class MeanSquaredError(Loss):
    """Mean squared error (like ``torch.nn.MSELoss``).

    Forward:  L = (1/M) sum_i (y_i - t_i)^2      over all M elements
    Backward: dL/dy = 2 (y - t) / M
    """

    def forward(self, prediction: Array, target: Array) -> float:
        self.difference = prediction - np.asarray(target, dtype=prediction.dtype).reshape(prediction.shape)
        return float(np.mean(self.difference ** 2))

    def backward(self) -> Array:
        return 2.0 * self.difference / self.difference.size


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy on probabilities, or on logits with ``from_logits=True``.

    On probabilities p (like ``torch.nn.BCELoss``):
      Forward:  L = -(1/M) sum_i [t_i log p_i + (1 - t_i) log(1 - p_i)]
                p is clipped to [eps, 1 - eps] so a saturated sigmoid cannot produce log(0).
      Backward: dL/dp = (p - t) / (p (1 - p)) / M
    On logits z (like ``torch.nn.BCEWithLogitsLoss``, the numerically stable choice):
      Forward:  L = (1/M) sum_i [max(z_i, 0) - z_i t_i + log(1 + exp(-|z_i|))]
                (the same value as above with p = sigmoid(z), rewritten so exp never overflows)
      Backward: dL/dz = (sigmoid(z) - t) / M
    """

    def __init__(self, from_logits: bool = False, epsilon: float = 1e-12) -> None:
        self.from_logits = from_logits
        self.epsilon = epsilon

    def forward(self, prediction: Array, target: Array) -> float:
        self.target = np.asarray(target, dtype=prediction.dtype).reshape(prediction.shape)
        if self.from_logits:
            self.prediction = prediction
            losses = (np.maximum(prediction, 0) - prediction * self.target
                      + np.log1p(np.exp(-np.abs(prediction))))
        else:
            self.prediction = np.clip(prediction, self.epsilon, 1.0 - self.epsilon)
            losses = -(self.target * np.log(self.prediction)
                       + (1.0 - self.target) * np.log1p(-self.prediction))
        return float(losses.mean())

    def backward(self) -> Array:
        size = self.target.size
        if self.from_logits:
            return (sigmoid(self.prediction) - self.target) / size
        p = self.prediction
        return (p - self.target) / (p * (1.0 - p)) / size
