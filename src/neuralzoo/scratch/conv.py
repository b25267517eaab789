"""2-D convolution and max pooling on NCHW batches, vectorised with im2col.

im2col turns convolution into one matrix product: every receptive field (C_in * kH * kW numbers) of
the padded input becomes one row of a matrix, read through ``sliding_window_view`` (a strided view,
no Python loop over pixels). The backward pass scatters gradients back with a loop over the kH * kW
kernel offsets only (9 iterations for a 3x3 kernel), each a whole-array strided add: overlapping
windows must *add* their contributions, which a plain fancy-indexed assignment would silently drop.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .layers import Array, Layer, uniform_init


def output_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """floor((size + 2 padding - kernel) / stride) + 1, the formula torch uses (ceil_mode=False)."""
    return (size + 2 * padding - kernel) // stride + 1


def windows(x: Array, kernel: tuple[int, int], stride: int) -> Array:
    """View (N, C, H, W) as (N, C, H_out, W_out, kH, kW): window [n, c, i, j] starts at (i s, j s)."""
    return sliding_window_view(x, kernel, axis=(2, 3))[:, :, ::stride, ::stride]


def scatter_windows(grad_windows: Array, input_shape: tuple[int, ...], stride: int) -> Array:
    """Adjoint of :func:`windows`: add each window's gradient back onto the pixels it read.

    grad_windows: (N, C, H_out, W_out, kH, kW). Loops over the kernel offsets (a, b), never pixels:
    offset (a, b) of window (i, j) is pixel (i s + a, j s + b), so one strided slice covers it.
    """
    _, _, out_h, out_w, kernel_h, kernel_w = grad_windows.shape
    grad_input = np.zeros(input_shape, dtype=grad_windows.dtype)
    for a in range(kernel_h):
        for b in range(kernel_w):
            grad_input[:, :, a:a + stride * out_h:stride, b:b + stride * out_w:stride] += \
                grad_windows[:, :, :, :, a, b]
    return grad_input


class Conv2d(Layer):
    """2-D convolution (cross-correlation, as in every deep-learning library), like ``torch.nn.Conv2d``.

    Shapes: x (N, C_in, H, W), W (C_out, C_in, kH, kW), b (C_out,), y (N, C_out, H_out, W_out),
    H_out = floor((H + 2 padding - kH) / stride) + 1 (same for W_out). x_p is x zero-padded.
    Forward:  y[n, o, i, j] = b[o] + sum_{c, a, b'} W[o, c, a, b'] x_p[n, c, i s + a, j s + b']
              computed as: cols = im2col(x_p) of shape (N H_out W_out, C_in kH kW);
                           y = cols W_flat^T + b, with W_flat = W reshaped to (C_out, C_in kH kW).
    Backward: with G = dL/dy reshaped to (N H_out W_out, C_out):
              dL/dW = reshape(G^T cols)            (each weight sees every window it touched)
              dL/db[o] = sum_{n, i, j} dL/dy[n, o, i, j]
              dL/dx_p = col2im(G W_flat)           (scatter-add each window's gradient back)
              dL/dx = dL/dx_p without the padding border.
              Equivalently dL/dx is the "full" convolution of dL/dy with the 180-degree rotated
              kernel; col2im computes exactly that, and also handles stride > 1.
    Init: W ~ U(-sqrt(6 / fan_in), sqrt(6 / fan_in)) (He-uniform, suits ReLU), b ~ U(-1/sqrt(fan_in),
          1/sqrt(fan_in)) as torch does; fan_in = C_in kH kW.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, rng: np.random.Generator | None = None,
                 dtype: np.dtype | type = np.float64) -> None:
        super().__init__()
        if kernel_size < 1 or stride < 1 or padding < 0:
            raise ValueError("kernel_size and stride must be >= 1 and padding >= 0")
        rng = rng if rng is not None else np.random.default_rng(0)
        self.stride, self.padding = stride, padding
        fan_in = in_channels * kernel_size * kernel_size
        shape = (out_channels, in_channels, kernel_size, kernel_size)
        self.params["weight"] = uniform_init(rng, shape, np.sqrt(6.0 / fan_in), dtype)
        self.params["bias"] = uniform_init(rng, (out_channels,), 1.0 / np.sqrt(fan_in), dtype)

    def forward(self, x: Array) -> Array:
        weight = self.params["weight"]
        out_channels, _, kernel_h, kernel_w = weight.shape
        p = self.padding
        padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p))) if p else x
        self.padded_shape = padded.shape
        view = windows(padded, (kernel_h, kernel_w), self.stride)    # (N, C, Ho, Wo, kH, kW)
        n, _, out_h, out_w = view.shape[:4]
        # Rows ordered (n, i, j), columns (c, a, b) to match weight.reshape(C_out, -1); this copy is
        # the only large allocation of the forward pass.
        self.columns = view.transpose(0, 2, 3, 1, 4, 5).reshape(n * out_h * out_w, -1)
        out = self.columns @ weight.reshape(out_channels, -1).T + self.params["bias"]
        return out.reshape(n, out_h, out_w, out_channels).transpose(0, 3, 1, 2)

    def backward(self, grad_output: Array) -> Array:
        weight = self.params["weight"]
        out_channels, in_channels, kernel_h, kernel_w = weight.shape
        n, _, out_h, out_w = grad_output.shape
        grad_matrix = grad_output.transpose(0, 2, 3, 1).reshape(-1, out_channels)
        self.grads["weight"] = (grad_matrix.T @ self.columns).reshape(weight.shape)
        self.grads["bias"] = grad_output.sum(axis=(0, 2, 3))
        grad_columns = grad_matrix @ weight.reshape(out_channels, -1)
        grad_windows = grad_columns.reshape(n, out_h, out_w, in_channels, kernel_h, kernel_w)
        grad_padded = scatter_windows(grad_windows.transpose(0, 3, 1, 2, 4, 5),
                                      self.padded_shape, self.stride)
        p = self.padding
        return grad_padded[:, :, p:-p, p:-p] if p else grad_padded


class MaxPool2d(Layer):
    """Max pooling over kH x kW windows, like ``torch.nn.MaxPool2d`` (stride defaults to the kernel).

    Forward:  y[n, c, i, j] = max_{a, b} x[n, c, i s + a, j s + b]
    Backward: the max is a switch, so the gradient flows only to the arg-max of each window:
              dL/dx[n, c, i s + a*, j s + b*] += dL/dy[n, c, i, j]   ((a*, b*) = arg-max, first one
              on ties, as torch does), zero elsewhere; "+=" matters when windows overlap (stride < k).
    """

    def __init__(self, kernel_size: int, stride: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size

    def forward(self, x: Array) -> Array:
        k = self.kernel_size
        view = windows(x, (k, k), self.stride)                      # (N, C, Ho, Wo, k, k)
        flat = view.reshape(*view.shape[:4], k * k)
        self.input_shape = x.shape
        self.argmax = flat.argmax(axis=-1)                           # position inside each window
        return np.take_along_axis(flat, self.argmax[..., None], axis=-1)[..., 0]

    def backward(self, grad_output: Array) -> Array:
        k = self.kernel_size
        # One-hot of the arg-max inside each window, times the incoming gradient: (N, C, Ho, Wo, k*k).
        grad_windows = (self.argmax[..., None] == np.arange(k * k)) * grad_output[..., None]
        grad_windows = grad_windows.reshape(*grad_output.shape, k, k)
        return scatter_windows(grad_windows, self.input_shape, self.stride)
