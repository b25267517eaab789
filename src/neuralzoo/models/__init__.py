"""Importing this package registers every model: the model file of each card module that
``neuralzoo.cards`` lists (``models/NAME.py`` beside ``cards/NAME.py``), so a new model adds its
two files and one import line, in ``cards/__init__.py``."""

from importlib import import_module

from ..cards import MODEL_FILES

for _name in MODEL_FILES:
    import_module(f"{__name__}.{_name}")
