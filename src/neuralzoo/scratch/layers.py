"""Dense layers, activations, Flatten and Sequential, with hand-written backward passes.

Every layer follows one contract so that optimizers, the fit loop and the tests can treat them alike:

* ``forward(x)`` computes the output and caches what ``backward`` needs.
* ``backward(grad_output)`` takes dL/d(output), returns dL/d(input) and *overwrites* (never
  accumulates into) ``self.grads[name]`` for every ``self.params[name]``, so no ``zero_grad`` exists.
* ``params`` / ``grads`` are dicts of arrays with torch's names and shapes (``weight``, ``bias``), so
  weights copy to and from ``torch.nn`` modules directly.

Shapes: a batch is always the first axis. Arrays are float64 unless the layer was built with
``dtype=numpy.float32`` (faster, used by the CLI and the benchmark); tests use float64.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

Array = np.ndarray


class Layer:
    """Base class: a layer without parameters that passes its input through unchanged."""

    def __init__(self) -> None:
        self.params: dict[str, Array] = {}
        self.grads: dict[str, Array] = {}

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, grad_output: Array) -> Array:
        raise NotImplementedError

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def named_parameters(self) -> Iterator[tuple[str, Array, Array]]:
        """Yield ``(name, parameter, gradient)``; the gradient is the one from the last backward."""
        for name, value in self.params.items():
            yield name, value, self.grads.get(name, np.zeros_like(value))

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={value.shape}" for name, value in self.params.items())
        return f"{type(self).__name__}({shapes})"


def uniform_init(rng: np.random.Generator, shape: tuple[int, ...], bound: float,
                 dtype: np.dtype | type) -> Array:
    """Samples from U(-bound, bound): the family of initialisations torch uses for its layers."""
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Dense(Layer):
    """Fully connected layer, weight shaped like ``torch.nn.Linear`` (out_features, in_features).

    Forward:  y = x W^T + b            x: (N, in), W: (out, in), b: (out,), y: (N, out)
    Backward: dL/dx = dL/dy W
              dL/dW = (dL/dy)^T x      (summed over the batch by the matrix product)
              dL/db = sum over the batch of dL/dy
    Extra leading axes, e.g. (N, T, in) from an RNN, are treated as more batch rows, as in torch.

    ``init="glorot"`` (default) draws W from U(-a, a), a = sqrt(6 / (in + out)), which keeps tanh and
    sigmoid activations in their sensitive range; ``init="he"`` uses a = sqrt(6 / in) for ReLU nets.
    Biases start at zero.
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator | None = None,
                 init: str = "glorot", dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        if init == "glorot":
            bound = np.sqrt(6.0 / (in_features + out_features))
        elif init == "he":
            bound = np.sqrt(6.0 / in_features)
        else:
            raise ValueError(f"init must be 'glorot' or 'he', got {init!r}")
        self.params["weight"] = uniform_init(rng, (out_features, in_features), bound, dtype)
        self.params["bias"] = np.zeros(out_features, dtype=dtype)
        self.input: Array | None = None

    def forward(self, x: Array) -> Array:
        self.input = x
        return x @ self.params["weight"].T + self.params["bias"]

    def backward(self, grad_output: Array) -> Array:
        rows = grad_output.reshape(-1, grad_output.shape[-1])   # (N, out), or (N T, out) and so on
        self.grads["weight"] = rows.T @ self.input.reshape(-1, self.input.shape[-1])
        self.grads["bias"] = rows.sum(axis=0)
        return grad_output @ self.params["weight"]


class ReLU(Layer):
    """Rectified linear unit, element-wise.

    Forward:  y = max(x, 0)
    Backward: dL/dx = dL/dy * [x > 0]     (the subgradient at exactly 0 is taken as 0, as torch does)
    """

    def forward(self, x: Array) -> Array:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.mask


class Tanh(Layer):
    """Hyperbolic tangent, element-wise.

    Forward:  y = tanh(x)
    Backward: dL/dx = dL/dy * (1 - y^2)   (written with the cached output, so no second tanh)
    """

    def forward(self, x: Array) -> Array:
        self.output = np.tanh(x)
        return self.output

    def backward(self, grad_output: Array) -> Array:
        return grad_output * (1.0 - self.output ** 2)


def sigmoid(x: Array) -> Array:
    """Logistic function computed as (1 + tanh(x / 2)) / 2: never overflows, unlike 1 / (1 + e^-x)."""
    return 0.5 * (1.0 + np.tanh(0.5 * x))


class Sigmoid(Layer):
    """Logistic sigmoid, element-wise.

    Forward:  y = 1 / (1 + exp(-x))       (evaluated as (1 + tanh(x/2)) / 2 to avoid overflow)
    Backward: dL/dx = dL/dy * y * (1 - y)
    """

    def forward(self, x: Array) -> Array:
        self.output = sigmoid(x)
        return self.output

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.output * (1.0 - self.output)


class Softmax(Layer):
    """Softmax over the last axis (for inspection; train with the fused ``SoftmaxCrossEntropy``).

    Forward:  y_i = exp(x_i - max(x)) / sum_j exp(x_j - max(x))   (shifting by max(x) avoids overflow
              and does not change the result)
    Backward: the Jacobian is dy_i/dx_j = y_i ([i = j] - y_j), so
              dL/dx_j = sum_i dL/dy_i y_i ([i = j] - y_j) = y_j (dL/dy_j - sum_i dL/dy_i y_i)
              A common tutorial bug is to use only the diagonal y_j (1 - y_j) of that Jacobian.
    """

    def forward(self, x: Array) -> Array:
        shifted = np.exp(x - x.max(axis=-1, keepdims=True))
        self.output = shifted / shifted.sum(axis=-1, keepdims=True)
        return self.output

    def backward(self, grad_output: Array) -> Array:
        inner = (grad_output * self.output).sum(axis=-1, keepdims=True)
        return self.output * (grad_output - inner)


class Flatten(Layer):
    """Reshape (N, d1, d2, ...) to (N, d1 * d2 * ...), e.g. between the conv and dense parts.

    Forward:  y = reshape(x, (N, -1))
    Backward: dL/dx = reshape(dL/dy, shape of x)
    """

    def forward(self, x: Array) -> Array:
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output: Array) -> Array:
        return grad_output.reshape(self.input_shape)


class Sequential(Layer):
    """A chain of layers: y = f_n(... f_2(f_1(x))).

    Forward:  apply the layers in order.
    Backward: the chain rule, dL/dx = J_1^T (J_2^T (... J_n^T dL/dy)): call each layer's backward in
              reverse order, feeding it the gradient the next layer returned.
    Parameters are named ``"<index>.<name>"`` (e.g. ``"0.weight"``) like ``torch.nn.Sequential``.
    """

    def __init__(self, layers: Sequence[Layer]) -> None:
        super().__init__()
        self.layers = list(layers)

    def forward(self, x: Array) -> Array:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def backward(self, grad_output: Array) -> Array:
        for layer in reversed(self.layers):
            grad_output = layer.backward(grad_output)
        return grad_output

    def named_parameters(self) -> Iterator[tuple[str, Array, Array]]:
        for index, layer in enumerate(self.layers):
            for name, value, grad in layer.named_parameters():
                yield f"{index}.{name}", value, grad

    def parameter_count(self) -> int:
        return sum(value.size for _, value, _ in self.named_parameters())

    def __repr__(self) -> str:
        inner = "\n".join(f"  ({index}) {layer!r}" for index, layer in enumerate(self.layers))
        return f"Sequential(\n{inner}\n)"
