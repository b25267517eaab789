"""scikit-learn estimators over the registry (``pip install neuralzoo``: scikit-learn is a core
dependency): ``NeuralZooClassifier`` (mlp, cnn, rnn, lstm, gru), ``NeuralZooTransformer``
(autoencoder, vae), ``NeuralZooOutlierDetector`` (scikit-learn's outlier conventions) and
``NeuralZooPyOD`` (PyOD's). They work in ``Pipeline``, ``GridSearchCV`` and ``cross_val_score``;
their parameters are the training settings, ``model__FIELD`` for the model's dataclass fields,
``preset``, ``val_fraction``, ``standardise``, ``image_shape`` and ``random_state`` (see ``base.py``).

    from neuralzoo.sklearn import NeuralZooClassifier
    search = GridSearchCV(NeuralZooClassifier("mlp", epochs=20),
                          {"lr": [1e-3, 3e-3], "model__hidden_sizes": [(128,), (256, 128)]}, cv=3)
"""

from .base import NeuralZooEstimator
from .classifier import NeuralZooClassifier
from .latent import NeuralZooOutlierDetector, NeuralZooPyOD, NeuralZooTransformer

__all__ = ["NeuralZooClassifier", "NeuralZooEstimator", "NeuralZooOutlierDetector", "NeuralZooPyOD",
           "NeuralZooTransformer"]
