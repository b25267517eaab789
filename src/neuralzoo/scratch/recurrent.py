"""Elman RNN and LSTM layers with backpropagation through time (BPTT).

Batches are batch-first, x of shape (N, T, F) (``torch.nn.RNN(..., batch_first=True)``), and the
layers return every hidden state, shape (N, T, H). Parameters carry torch's names and shapes
(``weight_ih``, ``weight_hh``, ``bias_ih``, ``bias_hh``; LSTM gates stacked in the order i, f, g, o),
so weights copy over from a one-layer ``torch.nn.RNN`` / ``torch.nn.LSTM`` without any reshuffling.

Only the recurrence itself loops over time; the input projections x_t W_ih^T for all t, and the
weight gradients summed over all t, are each computed as one matrix product.
"""

from __future__ import annotations

import numpy as np

from .layers import Array, Layer, sigmoid, uniform_init


class _Recurrent(Layer):
    """Shared initialisation: every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H)), as torch does."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, rng: np.random.Generator | None = None,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        rng = rng if rng is not None else np.random.default_rng(0)
        bound = 1.0 / np.sqrt(hidden_size)
        rows = self.gates * hidden_size
        self.hidden_size = hidden_size
        self.params["weight_ih"] = uniform_init(rng, (rows, input_size), bound, dtype)
        self.params["weight_hh"] = uniform_init(rng, (rows, hidden_size), bound, dtype)
        self.params["bias_ih"] = uniform_init(rng, (rows,), bound, dtype)
        self.params["bias_hh"] = uniform_init(rng, (rows,), bound, dtype)

    def _input_projection(self, x: Array) -> Array:
        """x_t W_ih^T + b_ih + b_hh for every t at once: (N, T, gates H)."""
        return x @ self.params["weight_ih"].T + self.params["bias_ih"] + self.params["bias_hh"]

    def _parameter_grads(self, grad_pre: Array, previous_hidden: Array) -> Array:
        """Sum the per-step gradients over batch and time with two matrix products; return dL/dx.

        grad_pre (N, T, gates H) is dL/d(pre-activation) at every step; previous_hidden (N, T, H) is
        h_{t-1}. The two biases enter the pre-activation identically, so they get the same gradient.
        """
        rows = grad_pre.shape[-1]
        flat = grad_pre.reshape(-1, rows)
        self.grads["weight_ih"] = flat.T @ self.input.reshape(-1, self.input.shape[-1])
        self.grads["weight_hh"] = flat.T @ previous_hidden.reshape(-1, self.hidden_size)
        self.grads["bias_ih"] = flat.sum(axis=0)
        self.grads["bias_hh"] = self.grads["bias_ih"].copy()
        return grad_pre @ self.params["weight_ih"]


class RNN(_Recurrent):
    """Elman RNN with tanh, like a one-layer ``torch.nn.RNN(batch_first=True)``.

    Forward:  h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh),  t = 1..T, h_0 given (default 0)
              output = (h_1, ..., h_T)
    Backward (through time, t = T..1), with g_t = dL/dh_t from the output and r_{T} = 0:
              dh_t = g_t + r_t                    (gradient from the output plus from step t+1)
              da_t = dh_t * (1 - h_t^2)           (through tanh)
              r_{t-1} = da_t W_hh                 (into the previous hidden state)
              dL/dx_t = da_t W_ih
              dL/dW_ih = sum_t da_t^T x_t,  dL/dW_hh = sum_t da_t^T h_{t-1},
              dL/db_ih = dL/db_hh = sum_t sum_n da_t
              The weights are shared across steps, so their gradients are sums over all steps; a
              common tutorial bug is to keep only the last step's term. dL/dh_0 = r_0.
    """

    def forward(self, x: Array, initial_state: Array | None = None) -> Array:
        n, steps, _ = x.shape
        self.input = x
        projection = self._input_projection(x)
        weight_hh_t = self.params["weight_hh"].T
        # hidden[:, t] is h_t; hidden[:, 0] is h_0.
        self.hidden = np.empty((n, steps + 1, self.hidden_size), dtype=projection.dtype)
        self.hidden[:, 0] = 0.0 if initial_state is None else initial_state
        for t in range(steps):
            self.hidden[:, t + 1] = np.tanh(projection[:, t] + self.hidden[:, t] @ weight_hh_t)
        self.final_state = self.hidden[:, -1]
        return self.hidden[:, 1:]

    def backward(self, grad_output: Array) -> Array:
        n, steps, _ = grad_output.shape
        weight_hh = self.params["weight_hh"]
        grad_pre = np.empty_like(grad_output)
        grad_next = np.zeros((n, self.hidden_size), dtype=grad_output.dtype)
        for t in reversed(range(steps)):
            grad_hidden = grad_output[:, t] + grad_next
            grad_pre[:, t] = grad_hidden * (1.0 - self.hidden[:, t + 1] ** 2)
            grad_next = grad_pre[:, t] @ weight_hh
        self.grad_initial_state = grad_next
        return self._parameter_grads(grad_pre, self.hidden[:, :-1])


class LSTM(_Recurrent):
    """Long short-term memory, like a one-layer ``torch.nn.LSTM(batch_first=True)``.

    Forward, with z_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh split into four blocks of H:
              i_t = sigmoid(z_i)   input gate        f_t = sigmoid(z_f)   forget gate
              g_t = tanh(z_g)      candidate cell    o_t = sigmoid(z_o)   output gate
              c_t = f_t * c_{t-1} + i_t * g_t
              h_t = o_t * tanh(c_t)                  output = (h_1, ..., h_T); h_0, c_0 default 0
    Backward (t = T..1), with g_t^out = dL/dh_t from the output and r_T = s_T = 0 carried back:
              dh_t = g_t^out + r_t
              dc_t = s_t + dh_t * o_t * (1 - tanh(c_t)^2)   (the cell gets gradient from h_t AND
                                                              directly from c_{t+1}: a common bug
                                                              drops the s_t term)
              dz_o = dh_t * tanh(c_t) * o_t (1 - o_t)
              dz_i = dc_t * g_t * i_t (1 - i_t)
              dz_f = dc_t * c_{t-1} * f_t (1 - f_t)
              dz_g = dc_t * i_t * (1 - g_t^2)
              s_{t-1} = dc_t * f_t,   r_{t-1} = dz_t W_hh,   dL/dx_t = dz_t W_ih
              dL/dW_ih = sum_t dz_t^T x_t,  dL/dW_hh = sum_t dz_t^T h_{t-1},
              dL/db_ih = dL/db_hh = sum_t sum_n dz_t
    """

    gates = 4

    def forward(self, x: Array, initial_state: tuple[Array, Array] | None = None) -> Array:
        n, steps, _ = x.shape
        size = self.hidden_size
        self.input = x
        projection = self._input_projection(x)
        weight_hh_t = self.params["weight_hh"].T
        dtype = projection.dtype
        self.hidden = np.empty((n, steps + 1, size), dtype=dtype)      # h_0 .. h_T
        self.cell = np.empty((n, steps + 1, size), dtype=dtype)        # c_0 .. c_T
        self.activations = np.empty((n, steps, 4 * size), dtype=dtype)  # i, f, g, o after squashing
        self.hidden[:, 0], self.cell[:, 0] = (0.0, 0.0) if initial_state is None else initial_state
        for t in range(steps):
            z = projection[:, t] + self.hidden[:, t] @ weight_hh_t
            gates = self.activations[:, t]
            gates[:, :2 * size] = sigmoid(z[:, :2 * size])             # i, f
            gates[:, 2 * size:3 * size] = np.tanh(z[:, 2 * size:3 * size])  # g
            gates[:, 3 * size:] = sigmoid(z[:, 3 * size:])              # o
            i, f, g, o = np.split(gates, 4, axis=1)
            self.cell[:, t + 1] = f * self.cell[:, t] + i * g
            self.hidden[:, t + 1] = o * np.tanh(self.cell[:, t + 1])
        self.cell_tanh = np.tanh(self.cell[:, 1:])
        self.final_state = (self.hidden[:, -1], self.cell[:, -1])
        return self.hidden[:, 1:]

    def backward(self, grad_output: Array) -> Array:
        n, steps, _ = grad_output.shape
        size = self.hidden_size
        weight_hh = self.params["weight_hh"]
        grad_pre = np.empty((n, steps, 4 * size), dtype=grad_output.dtype)
        grad_hidden_next = np.zeros((n, size), dtype=grad_output.dtype)
        grad_cell_next = np.zeros((n, size), dtype=grad_output.dtype)
        for t in reversed(range(steps)):
            i, f, g, o = np.split(self.activations[:, t], 4, axis=1)
            cell_tanh = self.cell_tanh[:, t]
            grad_hidden = grad_output[:, t] + grad_hidden_next
            grad_cell = grad_cell_next + grad_hidden * o * (1.0 - cell_tanh ** 2)
            dz = grad_pre[:, t]
            dz[:, :size] = grad_cell * g * i * (1.0 - i)
            dz[:, size:2 * size] = grad_cell * self.cell[:, t] * f * (1.0 - f)
            dz[:, 2 * size:3 * size] = grad_cell * i * (1.0 - g ** 2)
            dz[:, 3 * size:] = grad_hidden * cell_tanh * o * (1.0 - o)
            grad_hidden_next = dz @ weight_hh
            grad_cell_next = grad_cell * f
        self.grad_initial_state = (grad_hidden_next, grad_cell_next)
        return self._parameter_grads(grad_pre, self.hidden[:, :-1])


class LastTimeStep(Layer):
    """Keep only the last step of a sequence, e.g. RNN/LSTM -> Dense for sequence classification.

    Forward:  y = x[:, T - 1]                  x: (N, T, H), y: (N, H)
    Backward: dL/dx[:, T - 1] = dL/dy, zero for every other step.
    """

    def forward(self, x: Array) -> Array:
        self.input_shape = x.shape
        return x[:, -1]

    def backward(self, grad_output: Array) -> Array:
        grad = np.zeros(self.input_shape, dtype=grad_output.dtype)
        grad[:, -1] = grad_output
        return grad
