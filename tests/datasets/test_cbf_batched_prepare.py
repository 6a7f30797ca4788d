"""Tests for CbfDataset.prepare on a torch device: the batched simulation fills the cache with the items the numpy path
makes (to float32 rounding), and the default stays numpy."""

import json

import numpy as np
import pytest

from brainfm_lite.datasets.cbf import CbfDataset
from brainfm_lite.sim.asl.cohort import make_asl_cohort


@pytest.fixture(scope="module")
def cohort():
    return make_asl_cohort(3, 4, seed=1, spacing_mm=4.0)


def test_prepare_on_a_device_caches_the_numpy_items(cohort, tmp_path):
    data = CbfDataset(cohort, size=(32, 32, 32), cache_dir=tmp_path)
    assert data.prepare(device="cpu", batch_size=2) == 3  # two batches: 2 subjects, then 1
    assert data.prepare(device="cpu") == 0 and data.missing() == []
    for index in range(3):
        cached, fresh = data.load(index), data.simulate(index)
        # z-scored maps (values of order 1): float32 rounding of the simulation, through the normalisation
        np.testing.assert_allclose(cached["image"], fresh["image"], rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(cached["targets"], fresh["targets"], rtol=1e-4, atol=1e-6)
        assert int(cached["site"]) == int(fresh["site"])
        record, expected = json.loads(str(cached["record"])), json.loads(str(fresh["record"]))
        assert record["labels"] == expected["labels"] and record["age"] == expected["age"]
        assert record["regional_cbf"] == pytest.approx(expected["regional_cbf"], rel=1e-4)


def test_prepare_without_a_device_is_the_numpy_path(cohort, tmp_path, monkeypatch):
    data = CbfDataset(cohort, [0], size=(32, 32, 32), cache_dir=tmp_path)
    monkeypatch.setattr("brainfm_lite.datasets.cbf.simulate_asl_batch",
                        lambda *a, **k: pytest.fail("the default prepare must not take the batched path"))
    assert data.prepare() == 1
    np.testing.assert_array_equal(data.load(0)["image"], data.simulate(0)["image"])
