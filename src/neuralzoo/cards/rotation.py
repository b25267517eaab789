"""The rotation-prediction encoder's card (``models/rotation.py``)."""

from .base import ModelCard

CARD = ModelCard(
    name="rotation",
    summary="self-supervised encoder: predict the rotation (0/90/180/270) of an image (Gidaris 2018)",
    # the paper's optimizer: SGD with Nesterov momentum 0.9 and weight decay 5e-4. Adam's first steps
    # are +-lr for every weight whatever its gradient's size, and the rotation task leaves some
    # weights (parts of filters no turn can tell apart) with gradients near zero at the start, so
    # under Adam two thread counts ended 3e-4 apart after 4 steps; under SGD 7e-5
    train_defaults={"optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4,
                    "schedule": "one-cycle"},
    demo={"epochs": 15, "batch_size": 64, "channels": (32, 64)},
)
