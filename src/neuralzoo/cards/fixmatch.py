"""FixMatch's card (``models/fixmatch.py``): the project's CNN trained with pseudo-labels on
unlabelled data (``--labels N``)."""

from .base import ModelCard

CARD = ModelCard(
    name="fixmatch",
    summary=("FixMatch (Sohn et al. 2020): the CNN trained on few labels plus pseudo-labels of weak "
             "views for strong views of unlabelled images (--labels N)"),
    # Sohn et al.: B_l 64, mu = B_u / B_l = 7, threshold 0.95, lambda_u 1; Adam with a one-cycle
    # schedule is the project CNN's recipe (the paper: SGD with Nesterov momentum, cosine decay)
    train_defaults={"lr": 3e-3, "schedule": "one-cycle", "batch_size": 448, "labelled_batch_size": 64},
    # 50 of the embedded digits' labels: ~97% validation accuracy in 30 epochs (the CNN on the 50
    # labels alone: ~87%); batch norm, and a lower threshold for a run of a few hundred steps
    demo={"labels": 50, "epochs": 30, "batch_size": 128, "labelled_batch_size": 32, "lr": 1e-2,
          "schedule": "one-cycle", "threshold": 0.8, "batch_norm": True},
    search_space={"threshold": {"type": "float", "low": 0.7, "high": 0.98},
                  "unlabelled_weight": {"type": "float", "low": 0.25, "high": 4.0, "log": True},
                  "cutout": {"type": "float", "low": 0.0, "high": 0.6}},
)
