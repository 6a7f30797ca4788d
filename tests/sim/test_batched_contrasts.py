"""Tests for brainfm_lite.sim.batched_contrasts: a batch of contrasts on torch equals simulate_contrast's numpy images,
for every sequence family, both partial-volume models, one subject per sequence or one for all."""

import numpy as np
import pytest
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import KINDS, PRESETS, sample_sequence
from brainfm_lite.sim.batched_contrasts import simulate_contrasts
from brainfm_lite.sim.qmri import Compartments, qmri_compartments, simulate_contrast

SHAPE = (12, 14, 10)
RTOL, ATOL_OF_MAX = 1e-4, 1e-5  # float32 rounding: relative, and absolute as a fraction of the image's largest value


def _fractions(seed: int) -> dict:
    """Random tissue fractions (GM, WM, CSF, a lesion in one subject) summing to at most 1, with background."""
    rng = np.random.default_rng(seed)
    raw = rng.uniform(0, 1, (5, *SHAPE)).astype(np.float32)
    raw[4, :3] = 5.0  # a background slab
    raw[3] *= seed % 2  # a lesion compartment in odd subjects only
    fractions = raw / raw.sum(axis=0)
    return {"gm": fractions[0], "wm": fractions[1], "csf": fractions[2], "lesion": fractions[3]}


@pytest.fixture(scope="module")
def subjects():
    return [qmri_compartments(_fractions(seed), rng=seed, spacing_mm=2.0) for seed in range(4)]


@pytest.fixture(scope="module")
def sequences():
    """Every family twice (random parameters) and every clinical preset."""
    rng = np.random.default_rng(0)
    return [sample_sequence(rng, kinds=[kind]) for kind in KINDS for _ in range(2)] + list(PRESETS.values())


def _in_float64(qmri):
    """The same qMRI with float64 arrays: the numpy path then computes in double throughout."""
    if isinstance(qmri, Compartments):
        return Compartments({t: f.astype(np.float64) for t, f in qmri.fractions.items()},
                            {t: {n: v.astype(np.float64) for n, v in m.items()} for t, m in qmri.maps.items()})
    return {name: values.astype(np.float64) for name, values in qmri.items()}


def _assert_close(result: np.ndarray, qmri, sequence):
    """``result`` (float32) equals the numpy path's float32 image to float32 rounding.

    That is RTOL, and ATOL_OF_MAX of the image's largest value; or, where the equation is ill-conditioned in float32
    (an inversion-recovery signal near its null, e.g. FLAIR at TR 7 ms: a difference of nearly equal exponentials),
    twice the numpy path's own float32 error (against its float64 image), so no less accurate than numpy.
    """
    expected = simulate_contrast(qmri, sequence)
    exact = np.asarray(simulate_contrast(_in_float64(qmri), sequence), dtype=np.float64)
    numpy_error = np.abs(expected - exact).max()
    atol = max(ATOL_OF_MAX * np.abs(expected).max(), 2 * numpy_error)
    np.testing.assert_allclose(result, expected, rtol=RTOL, atol=atol, err_msg=f"{sequence}")


def test_every_family_of_one_subject_equals_numpy_for_both_partial_volume_models(subjects, sequences):
    assert {s.kind for s in sequences} == set(KINDS)
    for qmri in (subjects[1], subjects[1].voxel_maps()):
        images = simulate_contrasts(qmri, sequences)
        assert images.shape == (len(sequences), *SHAPE) and images.dtype == torch.float32
        for image, sequence in zip(images.numpy(), sequences):
            _assert_close(image, qmri, sequence)


def test_one_subject_per_sequence_equals_numpy(subjects, sequences):
    qmri = [subjects[k % len(subjects)] for k in range(len(sequences))]  # with and without a lesion compartment
    images = simulate_contrasts(qmri, sequences).numpy()
    for image, maps, sequence in zip(images, qmri, sequences):
        _assert_close(image, maps, sequence)


def test_a_batch_of_one_equals_the_same_item_in_a_larger_batch(subjects, sequences):
    batch = simulate_contrasts(subjects[2], sequences)
    for k in (0, 5, len(sequences) - 1):
        torch.testing.assert_close(simulate_contrasts(subjects[2], [sequences[k]])[0], batch[k], rtol=1e-6, atol=0)


def test_in_float64_the_batch_gives_the_numpy_equations_image(subjects, sequences):
    for qmri in (subjects[3], subjects[3].voxel_maps()):
        images = simulate_contrasts(qmri, sequences, dtype=torch.float64)
        assert images.dtype == torch.float64
        for image, sequence in zip(images.numpy(), sequences):
            expected = simulate_contrast(_in_float64(qmri), sequence)  # computed in double, returned as float32
            np.testing.assert_allclose(image, expected, rtol=1e-6, atol=1e-9 * np.abs(expected).max())


def test_preset_names_work_and_mismatched_counts_are_rejected(subjects):
    images = simulate_contrasts(subjects[0], ["t1w", "flair"])
    assert images.shape == (2, *SHAPE)
    _assert_close(images[1].numpy(), subjects[0], PRESETS["flair"])
    with pytest.raises(InputError, match="one each"):
        simulate_contrasts(subjects[:2], ["t1w", "t2w", "pdw"])
