"""Same-subject vs same-contrast distances on features built to depend on one factor or the other."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.feature_distance import contrast_subject_distances, cosine_distances, encode_contrasts


def factor_features(subject_weight: float, contrast_weight: float) -> np.ndarray:
    """[5 subjects, 3 contrasts, 16] = subject code * w_s + contrast code * w_c + a little noise."""
    rng = np.random.default_rng(0)
    subject, contrast = rng.normal(size=(5, 1, 16)), rng.normal(size=(1, 3, 16))
    return subject_weight * subject + contrast_weight * contrast + 0.01 * rng.normal(size=(5, 3, 16))


def test_anatomy_features_are_closer_within_a_subject():
    distances = contrast_subject_distances(factor_features(1.0, 0.1))
    assert distances["same_subject"] < distances["same_contrast"] and distances["ratio"] < 0.5


def test_contrast_features_are_closer_within_a_contrast():
    distances = contrast_subject_distances(factor_features(0.1, 1.0))
    assert distances["ratio"] > 2.0


def test_cosine_distances_of_known_vectors():
    d = cosine_distances([[1, 0], [0, 2], [-3, 0]])
    assert d == pytest.approx(np.array([[0, 1, 2], [1, 0, 1], [2, 1, 0]]))


def test_a_constant_offset_does_not_change_the_distances():
    features = factor_features(1.0, 0.3)
    assert contrast_subject_distances(features + 50.0) == pytest.approx(contrast_subject_distances(features))


def test_needs_two_subjects_and_two_contrasts():
    with pytest.raises(InputError):
        contrast_subject_distances(np.zeros((1, 3, 4)))


def test_encode_contrasts_keeps_subject_and_contrast_axes():
    encoder = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 3))
    assert encode_contrasts(encoder, torch.randn(2, 4, 1, 2, 2, 2)).shape == (2, 4, 3)
