"""Same-subject vs same-contrast distances on features built to depend on one factor or the other."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.eval.feature_distance import (
    contrast_subject_distances,
    cosine_distances,
    encode_contrasts,
    nearest_neighbours,
    neighbour_summary,
)


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


def test_nearest_neighbours_are_the_other_rows_of_the_same_group_nearest_first():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    # rows 0-2 near centre 0, 3-5 near centre 1, 6-8 near centre 2; row 1 sits closest to row 0
    features = np.repeat(centres, 3, axis=0) + 0.05 * rng.normal(size=(9, 8))
    features[1] = features[0] + 0.001
    neighbours = nearest_neighbours(features, k=2)
    assert neighbours.shape == (9, 2)
    assert neighbours[0, 0] == 1 and neighbours[1, 0] == 0
    for row, found in enumerate(neighbours):
        assert row not in found and set(found) <= set(range(3 * (row // 3), 3 * (row // 3) + 3))


@pytest.mark.parametrize("shape, k", [((4, 3, 2), 1), ((3, 5), 3), ((5, 5), 0)])
def test_nearest_neighbours_refuses_what_it_cannot_rank(shape, k):
    with pytest.raises(InputError, match="more than k"):
        nearest_neighbours(np.zeros(shape), k=k)


def test_neighbour_summary_of_an_age_ordered_embedding_finds_peers_in_age_not_in_site():
    ages = np.arange(12) * 5.0 + 20  # 20-75 years
    sites = np.arange(12) % 3  # sites interleaved with age
    angle = ages / 100.0 * np.pi  # features: a direction that turns with age
    features = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    summary = neighbour_summary(features, ages, sites, k=2)
    assert summary["neighbour_age_gap"] < summary["any_age_gap"] / 3
    assert summary["any_same_site"] == pytest.approx(3 / 11)
    assert summary["neighbour_same_site"] == 0.0  # neighbours in age sit at the other sites


def test_neighbour_summary_refuses_ages_that_do_not_match_the_features():
    with pytest.raises(InputError, match="one age and one site per row"):
        neighbour_summary(np.eye(5), ages=[1, 2, 3], sites=[0] * 5, k=2)
