"""Hyperparameter search with Optuna (``pip install 'neuralzoo[tune]'``): ``neuralzoo tune`` and
``neuralzoo.tune``. ``space.py``: search spaces; ``study.py``: the study and its trials;
``report.py``: trials table, pictures, ``--final``."""

from .study import tune

__all__ = ["tune"]
