"""The recurrent models' cards (``models/sequence.py``): one family, three cells."""

from .base import ModelCard

SUMMARY = "recurrent {} cell: sequence classification, multi-step forecasting, character text"
# benchmarks/mnist_rows.py's recipe (clipping: recurrent gradients can explode); on MNIST rows,
# 3 epochs, validation accuracy 97.87% against 97.13% with Adam lr 1e-3 constant (defaults.py)
DEFAULTS = {"lr": 2e-3, "schedule": "one-cycle", "grad_clip": 1.0}
SPACE = {"hidden_size": {"type": "categorical", "choices": [32, 64, 128, 256]},
         "num_layers": {"type": "int", "low": 1, "high": 2},
         "dropout": {"type": "float", "low": 0.0, "high": 0.3}}

# the demos keep their own recipes (no clipping) for the small demo data
RNN_CARD = ModelCard(
    name="rnn", summary=SUMMARY.format("Elman (tanh)"), train_defaults=DEFAULTS, search_space=SPACE,
    demo={"data": "digits-rows", "epochs": 30, "lr": 3e-3, "batch_size": 32, "hidden_size": 64,
          "schedule": "one-cycle", "grad_clip": None})
LSTM_CARD = ModelCard(
    name="lstm", summary=SUMMARY.format("LSTM"), train_defaults=DEFAULTS, search_space=SPACE,
    demo={"data": "fable", "epochs": 20, "lr": 1e-2, "batch_size": 8, "hidden_size": 128,
          "dropout": 0.3, "schedule": "one-cycle", "grad_clip": None})
GRU_CARD = ModelCard(
    name="gru", summary=SUMMARY.format("GRU"), train_defaults=DEFAULTS, search_space=SPACE,
    demo={"data": "sunspots", "epochs": 60, "lr": 3e-3, "batch_size": 32, "hidden_size": 32,
          "schedule": "one-cycle", "grad_clip": None})
