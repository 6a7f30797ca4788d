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


def test_a_run_simulates_its_maps_on_its_gpu_and_a_cpu_run_with_numpy(tmp_path, monkeypatch):
    """`simulation_device`: a CPU run keeps numpy (the recorded results); a run on a GPU ("auto" or "cuda") gets the
    process's GPU. The MAE's pretraining data hands that device to `CbfDataset.prepare` (here the CPU stands in for
    the GPU, so the batched path runs)."""
    import dataclasses

    import torch

    from brainfm_lite.config import load_profile
    from brainfm_lite.sim.asl.batched import simulate_asl_batch
    from brainfm_lite.train import distributed, pretrain

    assert distributed.simulation_device("cpu") is None
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert distributed.simulation_device("auto") == torch.device("cuda", 0)
    assert distributed.simulation_device("cuda") == torch.device("cuda", 0)

    batched = []

    def spy(cohort_, indices, device):
        batched.extend(indices)
        return simulate_asl_batch(cohort_, indices, device=device)

    monkeypatch.setattr("brainfm_lite.datasets.cbf.simulate_asl_batch", spy)
    monkeypatch.setattr(distributed, "simulation_device", lambda spec: torch.device("cpu"))
    profile = dataclasses.replace(load_profile("smoke", device="cpu"), n_asl_subjects=12, cbf_image_size=32)
    data, _ = pretrain._cbf_data(profile, tmp_path, None, n_jobs=1)
    assert len(data) > 0 and sorted(batched) == sorted(int(k) for k in data.indices) and data.missing() == []
