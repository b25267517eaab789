"""neuralzoo.scratch: every hand-written backward pass against torch autograd and finite differences.

float64 throughout the checks: outputs and gradients must match torch to 1e-6 relative, and central
differences (eps 1e-6) to ~1e-5. The training targets, the CLI and the torch-free import are in
test_scratch_training.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from neuralzoo import scratch

torch.set_num_threads(1)   # tiny tensors: threads only add overhead on a shared machine


def assert_torch_close(actual: np.ndarray, expected: torch.Tensor) -> None:
    """1e-6 relative, element-wise; atol only absorbs float64 round-off on exact zeros."""
    expected = expected.detach().numpy()
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=1e-6, atol=1e-12)


def assert_numerical_close(function, array: np.ndarray, analytic: np.ndarray) -> None:
    numerical = scratch.numerical_gradient(function, array)
    np.testing.assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-7)


def check_layer(layer: scratch.Layer, x: np.ndarray, torch_forward, seed: int = 1) -> None:
    """Forward, dL/dx and dL/dparams of L = sum(y * R) against torch, then finite differences."""
    rng = np.random.default_rng(seed)
    y = layer.forward(x)
    weights = rng.standard_normal(y.shape)
    grad_x = layer.backward(weights)

    x_t = torch.tensor(x, requires_grad=True)
    params_t = {name: torch.tensor(value, requires_grad=True) for name, value in layer.params.items()}
    y_t = torch_forward(x_t, params_t)
    (y_t * torch.tensor(weights)).sum().backward()
    assert_torch_close(y, y_t)
    assert_torch_close(grad_x, x_t.grad)
    for name in layer.params:
        assert_torch_close(layer.grads[name], params_t[name].grad)

    grads = {name: layer.grads[name].copy() for name in layer.params}

    def loss() -> float:
        return float((layer.forward(x) * weights).sum())

    assert_numerical_close(loss, x, grad_x)
    for name, value in layer.params.items():
        assert_numerical_close(loss, value, grads[name])


def away_from_zero(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal samples pushed off the ReLU kink, where finite differences are not defined."""
    x = rng.standard_normal(shape)
    return x + 0.1 * np.sign(x)


ELEMENTWISE = [
    (scratch.ReLU, lambda x, p: torch.relu(x)),
    (scratch.Tanh, lambda x, p: torch.tanh(x)),
    (scratch.Sigmoid, lambda x, p: torch.sigmoid(x)),
    (scratch.Softmax, lambda x, p: torch.softmax(x, dim=-1)),
    (scratch.Flatten, lambda x, p: x.reshape(x.shape[0], -1)),
    (scratch.LastTimeStep, lambda x, p: x[:, -1]),
]


@pytest.mark.parametrize("layer_class, torch_forward", ELEMENTWISE,
                         ids=[entry[0].__name__ for entry in ELEMENTWISE])
def test_parameter_free_layers_match_torch(layer_class, torch_forward):
    x = away_from_zero(np.random.default_rng(0), (4, 3, 5))
    check_layer(layer_class(), x, torch_forward)


@pytest.mark.parametrize("shape", [(6, 5), (2, 4, 5)])
def test_dense_matches_torch(shape):
    rng = np.random.default_rng(0)
    layer = scratch.Dense(5, 3, rng)
    layer.params["bias"][:] = rng.standard_normal(3)
    check_layer(layer, rng.standard_normal(shape), lambda x, p: F.linear(x, p["weight"], p["bias"]))


@pytest.mark.parametrize("kernel, stride, padding, shape", [
    (3, 1, 0, (2, 2, 6, 5)), (3, 2, 1, (2, 2, 7, 6)), (2, 1, 1, (3, 1, 4, 4)), (1, 1, 0, (2, 3, 3, 3)),
])
def test_conv2d_matches_torch(kernel, stride, padding, shape):
    rng = np.random.default_rng(0)
    layer = scratch.Conv2d(shape[1], 3, kernel, stride=stride, padding=padding, rng=rng)
    check_layer(layer, rng.standard_normal(shape),
                lambda x, p: F.conv2d(x, p["weight"], p["bias"], stride=stride, padding=padding))


@pytest.mark.parametrize("kernel, stride, shape", [
    (2, None, (2, 3, 6, 6)), (3, 2, (2, 2, 7, 7)), (2, 1, (2, 2, 5, 4)), (2, None, (1, 1, 5, 5)),
])
def test_maxpool2d_matches_torch(kernel, stride, shape):
    """Includes overlapping windows (stride < kernel) and odd sizes (the last row is dropped)."""
    x = np.random.default_rng(0).standard_normal(shape)
    check_layer(scratch.MaxPool2d(kernel, stride), x,
                lambda x, p: F.max_pool2d(x, kernel, stride if stride is not None else kernel))


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_recurrent_through_time_matches_torch(kind):
    """Outputs, input grads, weight grads and initial-state grads vs torch.nn.RNN/LSTM, copied weights."""
    rng = np.random.default_rng(0)
    n, steps, features, hidden = 3, 6, 4, 5
    layer = getattr(scratch, kind)(features, hidden, rng)
    module = getattr(torch.nn, kind)(features, hidden, batch_first=True).double()
    with torch.no_grad():
        for name, value in layer.params.items():
            getattr(module, f"{name}_l0").copy_(torch.tensor(value))
    x = rng.standard_normal((n, steps, features))
    h0 = rng.standard_normal((n, hidden))
    c0 = rng.standard_normal((n, hidden))
    state = h0 if kind == "RNN" else (h0, c0)
    weights = rng.standard_normal((n, steps, hidden))

    y = layer.forward(x, state)
    grad_x = layer.backward(weights)

    x_t = torch.tensor(x, requires_grad=True)
    h0_t = torch.tensor(h0[None], requires_grad=True)       # torch: (layers, N, H)
    c0_t = torch.tensor(c0[None], requires_grad=True)
    y_t, _ = module(x_t, h0_t if kind == "RNN" else (h0_t, c0_t))
    (y_t * torch.tensor(weights)).sum().backward()
    assert_torch_close(y, y_t)
    assert_torch_close(grad_x, x_t.grad)
    for name in layer.params:
        assert_torch_close(layer.grads[name], getattr(module, f"{name}_l0").grad)
    grad_h0 = layer.grad_initial_state if kind == "RNN" else layer.grad_initial_state[0]
    assert_torch_close(grad_h0, h0_t.grad[0])
    if kind == "LSTM":
        assert_torch_close(layer.grad_initial_state[1], c0_t.grad[0])
        _, (_, c_n) = module(x_t, (h0_t, c0_t))
        assert_torch_close(layer.final_state[1], c_n[0])

    grads = {name: layer.grads[name].copy() for name in layer.params}

    def loss() -> float:
        return float((layer.forward(x, state) * weights).sum())

    assert_numerical_close(loss, x, grad_x)
    for name, value in layer.params.items():
        assert_numerical_close(loss, value, grads[name])


LOSSES = [
    ("softmax_cross_entropy", scratch.SoftmaxCrossEntropy(), lambda z, t: F.cross_entropy(z, t)),
    ("mse", scratch.MeanSquaredError(), F.mse_loss),
    ("bce", scratch.BinaryCrossEntropy(), F.binary_cross_entropy),
    ("bce_logits", scratch.BinaryCrossEntropy(from_logits=True), F.binary_cross_entropy_with_logits),
]


@pytest.mark.parametrize("name, loss, torch_loss", LOSSES, ids=[entry[0] for entry in LOSSES])
def test_losses_match_torch(name, loss, torch_loss):
    rng = np.random.default_rng(0)
    prediction = rng.standard_normal((6, 4))
    if name == "softmax_cross_entropy":
        target = rng.integers(0, 4, size=6)
    else:
        target = rng.uniform(size=(6, 4)) if name != "mse" else rng.standard_normal((6, 4))
    target_t = torch.tensor(target)
    if name == "bce":
        prediction = rng.uniform(0.05, 0.95, size=(6, 4))
    value = loss.forward(prediction, target)
    grad = loss.backward()
    prediction_t = torch.tensor(prediction, requires_grad=True)
    value_t = torch_loss(prediction_t, target_t)
    value_t.backward()
    np.testing.assert_allclose(value, value_t.item(), rtol=1e-6)
    assert_torch_close(grad, prediction_t.grad)
    assert_numerical_close(lambda: loss.forward(prediction, target), prediction, grad)


def test_fused_losses_are_numerically_stable():
    logits = np.array([[1000.0, 0.0, -1000.0], [-800.0, 800.0, 0.0]])
    labels = np.array([2, 1])
    loss = scratch.SoftmaxCrossEntropy()
    value = loss.forward(logits, labels)
    expected = F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert np.isfinite(value) and np.isclose(value, expected, rtol=1e-12)
    assert np.all(np.isfinite(loss.backward()))
    bce = scratch.BinaryCrossEntropy(from_logits=True)
    z, t = np.array([[-1000.0, 1000.0, 30.0]]), np.array([[1.0, 0.0, 1.0]])
    expected = F.binary_cross_entropy_with_logits(torch.tensor(z), torch.tensor(t)).item()
    assert np.isclose(bce.forward(z, t), expected, rtol=1e-12)


def test_small_cnn_parameter_gradients_match_torch():
    """conv-relu-pool-conv-relu-pool-flatten-dense + softmax cross-entropy, one batch, all grads."""
    rng = np.random.default_rng(0)
    model = scratch.Sequential([
        scratch.Conv2d(1, 4, 3, padding=1, rng=rng), scratch.ReLU(), scratch.MaxPool2d(2),
        scratch.Conv2d(4, 6, 3, stride=1, padding=1, rng=rng), scratch.ReLU(), scratch.MaxPool2d(2),
        scratch.Flatten(), scratch.Dense(6 * 2 * 2, 10, rng),
    ])
    reference = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(24, 10)).double()
    torch_params = dict(reference.named_parameters())
    with torch.no_grad():
        for name, value, _ in model.named_parameters():
            torch_params[name].copy_(torch.tensor(value))
    x = rng.uniform(size=(8, 1, 8, 8))
    labels = rng.integers(0, 10, size=8)
    loss = scratch.SoftmaxCrossEntropy()
    value = loss.forward(model.forward(x), labels)
    model.backward(loss.backward())
    value_t = F.cross_entropy(reference(torch.tensor(x)), torch.tensor(labels))
    value_t.backward()
    np.testing.assert_allclose(value, value_t.item(), rtol=1e-10)
    names = [name for name, _, _ in model.named_parameters()]
    assert names == list(torch_params)
    for name, _, grad in model.named_parameters():
        assert_torch_close(grad, torch_params[name].grad)


@pytest.mark.parametrize("make", [
    (lambda m: scratch.SGD(m, lr=0.1, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    (lambda m: scratch.SGD(m, lr=0.1, weight_decay=0.01),
     lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.01)),
    (lambda m: scratch.Adam(m, lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (lambda m: scratch.Adam(m, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
     lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
], ids=["sgd_momentum", "sgd_weight_decay", "adam", "adam_weight_decay"])
def test_optimizers_match_torch(make):
    """Three steps on the same random gradients (so momentum / moment buffers are exercised)."""
    rng = np.random.default_rng(0)
    model = scratch.Sequential([scratch.Dense(4, 3, rng)])
    params_t = {name: torch.tensor(value.copy(), requires_grad=True)
                for name, value, _ in model.named_parameters()}
    optimizer, optimizer_t = make[0](model), make[1](list(params_t.values()))
    layer = model.layers[0]
    for _ in range(3):
        for name, value in layer.params.items():
            grad = rng.standard_normal(value.shape)
            layer.grads[name] = grad
            params_t[f"0.{name}"].grad = torch.tensor(grad)
        optimizer.step()
        optimizer_t.step()
    for name, value, _ in model.named_parameters():
        assert_torch_close(value, params_t[name])
