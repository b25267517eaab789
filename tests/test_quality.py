"""Sample-quality metrics: the Fréchet distance against its closed forms, k-NN precision and recall
on known mode collapse, and the FID Inception network's safe loading."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from neuralzoo.errors import NeuralzooError
from neuralzoo.evaluation.quality import frechet_distance, precision_recall, statistics


def test_frechet_distance_matches_the_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    m1, m2 = rng.normal(size=5), rng.normal(size=5)
    v1, v2 = rng.uniform(0.5, 2, 5), rng.uniform(0.5, 2, 5)
    expected = ((m1 - m2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert frechet_distance(m1, np.diag(v1), m2, np.diag(v2)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_exact_and_quiet_for_singular_covariances():
    """A dead feature (zero variance) in both sets, and fewer samples than features: still the
    closed form, with no warning and no ridge."""
    v1, v2 = np.array([0.0, 1.0, 4.0]), np.array([0.0, 9.0, 1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert frechet_distance(np.zeros(3), np.diag(v1), np.ones(3), np.diag(v2)) == pytest.approx(
            3 + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum(), rel=1e-12)
        x = torch.randn(5, 8, dtype=torch.float64)   # rank-4 sample covariance of 8 features
        assert abs(frechet_distance(*statistics(x), *statistics(x))) < 1e-6   # sqrt of rounding: 1e-8


def test_frechet_distance_general_covariances_and_from_samples():
    """Against an independent reference: scipy's matrix square root of S1 S2 (Higham's Schur
    method), as the original FID code computes it, not the eigenvalue route frechet_distance takes."""
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    s1, s2 = a @ a.T + np.eye(4), b @ b.T + np.eye(4)
    m1, m2 = rng.normal(size=4), rng.normal(size=4)
    root = sqrtm(s1 @ s2)
    assert np.allclose(root @ root, s1 @ s2)   # the reference itself is a square root
    expected = ((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(root).real
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, rel=1e-6)
    x = torch.from_numpy(rng.multivariate_normal(np.zeros(4), s1, size=20000))
    assert frechet_distance(*statistics(x), np.zeros(4), s1) < 0.05


def test_precision_recall_detect_dropped_modes():
    torch.manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    real = centres.repeat_interleave(250, 0) + torch.randn(1000, 2) * 0.5
    same = centres.repeat_interleave(250, 0) + torch.randn(1000, 2) * 0.5
    assert min(precision_recall(real, same)) > 0.9
    one_mode = centres[:1].repeat(1000, 1) + torch.randn(1000, 2) * 0.5   # mode collapse
    precision, recall = precision_recall(real, one_mode)
    assert precision > 0.9 and recall < 0.35
    far = real + 100.0
    assert precision_recall(real, far) == (0.0, 0.0)


@pytest.mark.slow
def test_inception_fid_network_loads_weights_safely(tmp_path):
    from safetensors.torch import save_file

    from neuralzoo.evaluation.inception import FIDInception, InceptionFeatures, load_inception

    net = FIDInception()
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 2048)
    weights = {k: torch.randn_like(v) if v.is_floating_point() else v
               for k, v in net.state_dict().items()}
    save_file(weights, tmp_path / "inception.safetensors")
    features, classes = InceptionFeatures(tmp_path / "inception.safetensors")(torch.rand(3, 1, 8, 8))
    assert features.shape == (3, 2048) and classes is None
    save_file({"fc.weight": torch.zeros(2, 2)}, tmp_path / "other.safetensors")
    with pytest.raises(NeuralzooError, match="not FID Inception-v3 weights"):
        load_inception(tmp_path / "other.safetensors")
    (tmp_path / "fake.pth").write_bytes(b"not a pickle")
    with pytest.raises(NeuralzooError, match="not the FID Inception weights"):
        load_inception(tmp_path / "fake.pth")


def test_classification_scores_match_scikit_learn():
    """The evaluation's confusion matrix and per-class precision / recall / F1 (computed without
    importing scikit-learn) against scikit-learn's own functions, including a class never predicted
    and a class absent from the labels (zero_division=0)."""
    from sklearn.metrics import confusion_matrix as reference_matrix
    from sklearn.metrics import precision_recall_fscore_support

    from neuralzoo.evaluation.classification import confusion_matrix, per_class_scores

    rng = np.random.default_rng(0)
    true = rng.integers(0, 5, 300)                     # class 5 never occurs
    predicted = np.where(rng.random(300) < 0.7, true, rng.integers(0, 6, 300))
    predicted[predicted == 2] = 3                     # class 2 never predicted
    matrix = confusion_matrix(true, predicted, 6)
    assert matrix.tolist() == reference_matrix(true, predicted, labels=list(range(6))).tolist()
    expected = precision_recall_fscore_support(true, predicted, labels=list(range(6)), zero_division=0)
    for ours, theirs in zip(per_class_scores(matrix), expected):
        assert np.allclose(ours, theirs)
