"""A from-scratch NumPy reference implementation of neural networks with hand-written backprop.

Read it to learn how forward and backward passes work; trust it because the tests check every
layer against PyTorch's autograd (float64, 1e-6 relative) and against finite differences. NumPy
only: this package never imports torch.

    from neuralzoo.scratch import Sequential, Dense, Tanh, MeanSquaredError, SGD, fit

Modules: ``layers`` (Dense, ReLU, Tanh, Sigmoid, Softmax, Flatten, Sequential), ``losses``
(SoftmaxCrossEntropy, MeanSquaredError, BinaryCrossEntropy), ``conv`` (Conv2d, MaxPool2d),
``recurrent`` (RNN, LSTM, LastTimeStep), ``optim`` (SGD, Adam), ``train`` (fit, data, the tutorial
networks), ``check`` (finite differences), ``cli`` (``neuralzoo scratch xor|digits``).
"""

from .check import numerical_gradient, relative_error
from .conv import Conv2d, MaxPool2d
from .layers import Dense, Flatten, Layer, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .losses import BinaryCrossEntropy, Loss, MeanSquaredError, SoftmaxCrossEntropy
from .optim import SGD, Adam, Optimizer
from .recurrent import LSTM, RNN, LastTimeStep
from .train import History, accuracy, fit, load_digits_split, predict

__all__ = [
    "Adam", "BinaryCrossEntropy", "Conv2d", "Dense", "Flatten", "History", "LSTM", "LastTimeStep",
    "Layer", "Loss", "MaxPool2d", "MeanSquaredError", "Optimizer", "RNN", "ReLU", "SGD", "Sequential",
    "Sigmoid", "Softmax", "SoftmaxCrossEntropy", "Tanh", "accuracy", "fit", "load_digits_split",
    "numerical_gradient", "predict", "relative_error",
]
