"""brain_mask, apply_mask, clip_percentiles, zscore and N4 bias_field_correct on synthetic phantoms."""

import json

import numpy as np
import pytest

from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.intensity import apply_mask, bias_field_correct, brain_mask, clip_percentiles, zscore
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_template


def _centred_grid(n, spacing_mm):
    """World coordinates (mm) of an n^3 grid centred on 0, shape [n, n, n, 3]."""
    return (np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), axis=-1) - (n - 1) / 2) * spacing_mm


def _head(n=64, spacing_mm=2.0, seed=0):
    """A T1-like head: brain (with dark ventricles), a dark CSF gap, a bright scalp, and a thin bright bridge
    from brain to scalp (as vessels and nerves make) that a plain threshold + largest component cannot cut."""
    grid = _centred_grid(n, spacing_mm)
    r = np.linalg.norm(grid / [60.0, 75.0, 55.0], axis=-1)
    brain, gap, scalp = r < 0.8, (r >= 0.8) & (r < 0.87), (r >= 0.87) & (r < 0.95)
    data = 80.0 * brain + 10.0 * gap + 90.0 * scalp
    data[np.linalg.norm(grid / [8.0, 20.0, 10.0], axis=-1) < 1] = 25.0  # ventricles
    bridge = (np.abs(grid[..., 1]) < 1.5) & (np.abs(grid[..., 2]) < 1.5) & (grid[..., 0] > 0) & (r < 0.9)
    data[bridge] = 85.0
    data += 4.0 * np.random.default_rng(seed).normal(size=data.shape)
    return Volume(data.astype(np.float32), np.diag([spacing_mm] * 3 + [1.0])), brain, scalp


def _dice(a, b):
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def test_otsu_brain_mask_keeps_the_brain_and_drops_a_bridged_scalp():
    volume, brain, scalp = _head()
    mask = brain_mask(volume)
    assert _dice(mask, brain) > 0.97
    assert (mask & scalp).sum() < 0.01 * scalp.sum()
    # without the erosion step the bridge joins scalp and brain: the step is what makes this work
    assert (brain_mask(volume, erosion_mm=0.0) & scalp).sum() > 0.5 * scalp.sum()


def test_otsu_brain_mask_matches_the_mni_mask_on_the_template():
    template = mni_template(2, spacing_mm=4.0)
    truth = mni_brain_mask(2, spacing_mm=4.0).data > 0.5
    assert _dice(brain_mask(template), truth) > 0.95


def test_mni_method_uses_the_template_mask_where_the_scan_has_data():
    template = mni_template(2, spacing_mm=4.0)
    template.data[:, :, :10] = 0  # a scan whose field of view stops above the cerebellum
    mask = brain_mask(template, method="mni")
    truth = mni_brain_mask(2, spacing_mm=4.0).data > 0.5
    assert not mask[:, :, :10].any()
    assert np.array_equal(mask[:, :, 10:], truth[:, :, 10:] & (template.data[:, :, 10:] != 0))


def test_apply_mask_zeroes_the_outside_only():
    volume, brain, _ = _head(n=24, spacing_mm=6.0)
    stripped = apply_mask(volume, brain)
    assert not stripped.data[~brain].any()
    assert np.array_equal(stripped.data[brain], volume.data[brain])


def test_clip_percentiles_limits_values_inside_the_mask_only():
    volume, brain, _ = _head(n=32, spacing_mm=4.0)
    clipped = clip_percentiles(volume, 1.0, 99.0, mask=brain)
    low, high = np.percentile(volume.data[brain], [1.0, 99.0])
    assert clipped.data[brain].min() == pytest.approx(low) and clipped.data[brain].max() == pytest.approx(high)
    assert np.array_equal(clipped.data[~brain], volume.data[~brain])
    assert clipped.meta["clip_percentiles"]["high_value"] == pytest.approx(high)
    with pytest.raises(InputError, match="low < high"):
        clip_percentiles(volume, 99.0, 1.0)


def test_zscore_gives_mean_0_and_std_1_inside_the_mask_and_0_outside():
    volume, brain, _ = _head(n=32, spacing_mm=4.0)
    normalised = zscore(volume, brain)
    assert normalised.data[brain].mean() == pytest.approx(0.0, abs=1e-5)
    assert normalised.data[brain].std() == pytest.approx(1.0, abs=1e-5)
    assert not normalised.data[~brain].any()
    whole = zscore(volume)
    assert whole.data.mean() == pytest.approx(0.0, abs=1e-5) and whole.data.std() == pytest.approx(1.0, abs=1e-5)


def test_zscore_rejects_a_constant_region():
    volume = Volume(np.full((8, 8, 8), 3.0, np.float32), np.eye(4))
    with pytest.raises(InputError, match="different values"):
        zscore(volume, volume.data > 0)


def _biased_phantom(n=48, spacing_mm=3.0, seed=0):
    """Two piecewise-constant tissues (100 inside, 60 in a shell) with noise, times a smooth bias (about x0.6-x1.6)."""
    grid = _centred_grid(n, spacing_mm) / (n * spacing_mm / 2)  # -1..1
    r = np.linalg.norm(grid * [1.0, 0.8, 1.1], axis=-1)
    inner, shell = r < 0.45, (r > 0.55) & (r < 0.8)  # away from the edges between tissues
    clean = np.where(r < 0.5, 100.0, np.where(r < 0.85, 60.0, 0.0))
    clean += 2.0 * np.random.default_rng(seed).normal(size=clean.shape) * (clean > 0)
    bias = np.exp(0.35 * grid[..., 0] - 0.25 * grid[..., 1] + 0.2 * grid[..., 2] ** 2)
    volume = Volume((clean * bias).astype(np.float32), np.diag([spacing_mm] * 3 + [1.0]))
    return volume, clean, inner, shell


def _cv(values):
    return values.std() / values.mean()


def test_n4_removes_a_smooth_multiplicative_bias():
    volume, clean, inner, shell = _biased_phantom()
    corrected = bias_field_correct(volume, shrink=2)
    for tissue in (inner, shell):
        # the bias spreads each tissue's intensities (CV about 0.1-0.2); N4 brings them back to the noise level
        assert _cv(corrected.data[tissue]) < _cv(volume.data[tissue]) / 3
        assert _cv(corrected.data[tissue]) < 1.5 * _cv(clean[tissue])
    record = corrected.meta["bias_field"]
    assert record == {"method": "N4 (SimpleITK)", "shrink": 2, "iterations": [50, 50, 30], "mask": "otsu"}
    json.dumps(record)


def test_n4_is_repeatable_and_accepts_a_mask():
    volume, _, inner, shell = _biased_phantom(n=32, spacing_mm=4.0)
    first = bias_field_correct(volume, mask=inner | shell, shrink=2, iterations=(20, 20))
    second = bias_field_correct(volume, mask=inner | shell, shrink=2, iterations=(20, 20))
    assert np.array_equal(first.data, second.data)
    assert first.meta["bias_field"]["mask"] == "given"
    assert _cv(first.data[inner]) < _cv(volume.data[inner]) / 2


def test_n4_rejects_bad_parameters_and_4d_input():
    volume, _, _, _ = _biased_phantom(n=16, spacing_mm=8.0)
    with pytest.raises(InputError, match="shrink"):
        bias_field_correct(volume, shrink=0)
    with pytest.raises(InputError, match="3D"):
        bias_field_correct(Volume(np.ones((4, 4, 4, 2), np.float32), np.eye(4)))
