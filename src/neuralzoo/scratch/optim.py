"""SGD with momentum and Adam, updating a layer's parameters in place from its last backward pass.

Both follow ``torch.optim`` exactly (same update order, same bias correction, same eps placement), so
one step from the same parameters and gradients gives the same numbers as torch.
"""

from __future__ import annotations

import numpy as np

from .layers import Array, Layer


class Optimizer:
    """Base class: ``step()`` reads ``model.named_parameters()`` and changes the arrays in place.

    In-place updates (``param -= ...``) matter: the layers hold these very arrays, so rebinding a new
    array would leave the model untouched.
    """

    def __init__(self, model: Layer, lr: float) -> None:
        if lr <= 0:
            raise ValueError(f"lr must be positive, got {lr}")
        self.model = model
        self.lr = lr
        self.state: dict[str, dict[str, Array]] = {}

    def step(self) -> None:
        for name, param, grad in self.model.named_parameters():
            self.update(param, grad, self.state.setdefault(name, {}))

    def update(self, param: Array, grad: Array, state: dict[str, Array]) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with (heavy-ball) momentum, like ``torch.optim.SGD``.

    g = dL/dp + weight_decay * p
    v <- momentum * v + g            (v starts as g on the first step, as in torch)
    p <- p - lr * v                  (with momentum = 0 this is plain p <- p - lr * g)
    """

    def __init__(self, model: Layer, lr: float = 0.01, momentum: float = 0.0,
                 weight_decay: float = 0.0) -> None:
        super().__init__(model, lr)
        self.momentum = momentum
        self.weight_decay = weight_decay

    def update(self, param: Array, grad: Array, state: dict[str, Array]) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if self.momentum:
            if "velocity" not in state:
                state["velocity"] = grad.copy()
            else:
                state["velocity"] *= self.momentum
                state["velocity"] += grad
            grad = state["velocity"]
        param -= self.lr * grad


class Adam(Optimizer):
    """Adam, like ``torch.optim.Adam`` (L2 weight decay added to the gradient, not AdamW).

    g = dL/dp + weight_decay * p;  t <- t + 1
    m <- beta1 m + (1 - beta1) g          first moment (mean of the gradient)
    v <- beta2 v + (1 - beta2) g^2        second moment (uncentred variance)
    p <- p - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)
    The (1 - beta^t) factors undo the bias of m and v towards their zero start in early steps.
    """

    def __init__(self, model: Layer, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        super().__init__(model, lr)
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.weight_decay = weight_decay

    def update(self, param: Array, grad: Array, state: dict[str, Array]) -> None:
        if self.weight_decay:
            grad = grad + self.weight_decay * param
        if "step" not in state:
            state["step"] = np.zeros((), dtype=np.int64)
            state["mean"] = np.zeros_like(param)
            state["variance"] = np.zeros_like(param)
        state["step"] += 1
        step = int(state["step"])
        mean, variance = state["mean"], state["variance"]
        mean *= self.beta1
        mean += (1.0 - self.beta1) * grad
        variance *= self.beta2
        variance += (1.0 - self.beta2) * grad * grad
        correction1 = 1.0 - self.beta1 ** step
        correction2 = 1.0 - self.beta2 ** step
        denominator = np.sqrt(variance) / np.sqrt(correction2) + self.eps
        param -= (self.lr / correction1) * mean / denominator
