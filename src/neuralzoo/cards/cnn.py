"""The convolutional classifier's card (``models/cnn.py``)."""

from .base import ModelCard

CARD = ModelCard(
    name="cnn",
    summary=("convolutional classifier (classic Conv32-Pool-Conv64-Pool-Conv64 stack by default; "
             "VGG-style with --preset strong)"),
    presets={
        "classic": {"model": {}},
        "strong": {
            "model": {"channels": (32, 64, 128), "convs_per_block": 2, "padding": "same",
                      "pool_after": (1, 2, 3), "dense_sizes": (256,), "batch_norm": True,
                      "dropout": 0.25},
            # 25 epochs: ~26 s each on 2 cores (AVX512-BF16), so the one-cycle schedule ends after
            # ~11 min, inside a 15-minute budget with margin; 99.64% MNIST test accuracy (seed 0)
            "train": {"epochs": 25, "batch_size": 128, "lr": 3e-3, "schedule": "one-cycle",
                      "augment": "affine", "weight_decay": 0.0, "label_smoothing": 0.0},
        },
        # DP-SGD at epsilon 3 (Tramer & Boneh 2021, after Papernot et al. 2021): 8x8 and 4x4
        # convolutions at stride 2, overlapping pooling, tanh (bounded activations keep clipped
        # gradients informative), 26,010 parameters; standardised pixels, SGD with momentum on
        # Poisson batches of 512, per-sample clipping at 0.1, 40 epochs (benchmarks/dp_mnist.py)
        "private": {
            "model": {"channels": (16, 32), "kernel_sizes": (8, 4), "strides": (2, 2), "paddings": (2, 0),
                      "pool_after": (1, 2), "pool_stride": 1, "dense_sizes": (32,), "activation": "tanh",
                      "batch_norm": False, "dropout": 0.0},
            "train": {"dp_epsilon": 3.0, "dp_max_grad_norm": 0.1, "optimizer": "sgd", "momentum": 0.9,
                      "lr": 0.5, "batch_size": 512, "epochs": 40, "schedule": "constant",
                      "label_smoothing": 0.0},
            "data": {"standardise": "on"},
        },
    },
    # the recipe benchmarks/mnist_cnn.py validated: 99.0% MNIST test accuracy in under one epoch
    train_defaults={"lr": 0.02, "schedule": "one-cycle", "label_smoothing": 0.1},
    # the demo's own recipe for 1,437 8x8 digits (no smoothing: it predates the MNIST defaults)
    demo={"epochs": 30, "lr": 2e-3, "schedule": "one-cycle", "batch_size": 32, "label_smoothing": 0.0,
          "batch_norm": True, "dropout": 0.1},
    search_space={"channels": {"type": "categorical", "choices": ["16,32", "32,64", "32,64,64"]},
                  "kernel_size": {"type": "categorical", "choices": [3, 5]},
                  "dense_sizes": {"type": "categorical", "choices": ["64", "128"]},
                  "dropout": {"type": "float", "low": 0.0, "high": 0.5},
                  "label_smoothing": {"type": "categorical", "choices": [0.0, 0.1]}},
)
