"""CbfDataset: shapes, normalisation, determinism, and a cache that spares the simulator on later epochs."""

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from brainfm_lite.datasets.cbf import TARGETS, CbfDataset
from brainfm_lite.errors import InputError
from brainfm_lite.sim.asl import cohort as asl_cohort
from brainfm_lite.sim.asl.cohort import make_asl_cohort

SIZE = (32, 32, 32)


@pytest.fixture(scope="module")
def cohort():
    return make_asl_cohort(4, n_sites=2, seed=0, spacing_mm=4.0)


def count_simulations(monkeypatch) -> list:
    calls = []
    original = asl_cohort.simulate_subject

    def counting(index, cohort):
        calls.append(index)
        return original(index, cohort)

    monkeypatch.setattr(asl_cohort, "simulate_subject", counting)
    return calls


def test_items_have_the_documented_shapes_and_targets(cohort):
    data = CbfDataset(cohort, [2, 0], size=SIZE)
    item = data[0]
    assert item["image"].shape == (1, *SIZE) and item["image"].dtype == torch.float32
    assert set(item["targets"]) == set(TARGETS)
    assert int(item["index"]) == 2 and int(item["site"]) == cohort.site_of(2)
    subject = cohort[2]
    assert float(item["targets"]["qei"]) == pytest.approx(subject.quality["qei"], rel=1e-6)
    assert float(item["targets"]["vascular"]) == subject.labels["vascular"]
    batch = next(iter(DataLoader(data, batch_size=2)))
    assert batch["image"].shape == (2, 1, *SIZE) and batch["targets"]["ftd"].shape == (2,)


def test_zscore_is_standard_inside_the_brain_and_scale_keeps_cbf_units(cohort):
    z = CbfDataset(cohort, [1], size=SIZE, normalise="zscore")[0]["image"]
    brain = z != 0
    assert abs(float(z[brain].mean())) < 1e-3 and float(z[brain].std()) == pytest.approx(1.0, abs=1e-2)
    scaled = CbfDataset(cohort, [1], size=SIZE, normalise="scale")[0]["image"]
    # grey-matter CBF is tens of mL/100 g/min: after /100 the brain's values sit near 0.1 to 1
    assert 0.05 < float(scaled[scaled > 0].mean()) < 2.0


def test_same_subject_gives_the_same_tensor(cohort):
    first, second = CbfDataset(cohort, size=SIZE), CbfDataset(cohort, size=SIZE)
    assert torch.equal(first[3]["image"], second[3]["image"])


def test_cache_is_written_once_and_later_epochs_do_not_simulate(cohort, tmp_path, monkeypatch):
    calls = count_simulations(monkeypatch)
    data = CbfDataset(cohort, size=SIZE, cache_dir=tmp_path)
    first_epoch = [data[k]["image"] for k in range(len(data))]
    assert sorted(calls) == [0, 1, 2, 3]
    assert len(list(tmp_path.glob("*.npz"))) == 4 and not list(tmp_path.glob(".*tmp*"))  # no leftovers
    second_epoch = [data[k]["image"] for k in range(len(data))]
    assert len(calls) == 4  # nothing simulated again
    assert all(torch.equal(a, b) for a, b in zip(first_epoch, second_epoch))
    uncached = CbfDataset(cohort, size=SIZE)[1]["image"]
    assert torch.equal(uncached, first_epoch[1])


def test_cache_keys_separate_settings(cohort, tmp_path):
    zscored = CbfDataset(cohort, size=SIZE, cache_dir=tmp_path)
    scaled = CbfDataset(cohort, size=SIZE, normalise="scale", cache_dir=tmp_path)
    other_cohort = CbfDataset(make_asl_cohort(4, n_sites=2, seed=1, spacing_mm=4.0), size=SIZE, cache_dir=tmp_path)
    files = {zscored.cache_file(0), scaled.cache_file(0), other_cohort.cache_file(0), zscored.cache_file(1)}
    assert len(files) == 4


def test_failed_cache_write_leaves_no_file(cohort, tmp_path, monkeypatch):
    def broken_save(path, **arrays):
        path.write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_save)
    data = CbfDataset(cohort, size=SIZE, cache_dir=tmp_path)
    with pytest.raises(OSError, match="disk full"):
        data[0]
    assert list(tmp_path.iterdir()) == []


def test_targets_and_sites_cover_every_item(cohort, tmp_path):
    data = CbfDataset(cohort, [3, 1], size=SIZE, cache_dir=tmp_path)
    targets = data.targets()
    assert targets["qei"].shape == (2,)
    assert targets["alzheimers"][0] == cohort[3].labels["alzheimers"]
    assert data.sites().tolist() == [cohort.site_of(3), cohort.site_of(1)]


def test_bad_arguments_are_refused(cohort):
    with pytest.raises(InputError, match="normalise"):
        CbfDataset(cohort, normalise="minmax")
    with pytest.raises(InputError, match="indices"):
        CbfDataset(cohort, [0, 7])
    with pytest.raises(InputError, match="size"):
        CbfDataset(cohort, size=(32, 32))


def test_prepare_fills_the_cache_in_worker_processes_then_reads_only(cohort, tmp_path, monkeypatch):
    data = CbfDataset(cohort, size=SIZE, cache_dir=tmp_path)
    assert data.prepare(n_jobs=2) == 4
    assert len(list(tmp_path.glob("*.npz"))) == 4
    calls = count_simulations(monkeypatch)
    assert data.prepare(n_jobs=2) == 0
    serial = CbfDataset(cohort, size=SIZE)
    assert all(torch.equal(data[k]["image"], serial[k]["image"]) for k in range(len(data)))
    assert len(calls) == 4  # only the uncached dataset simulated
    with pytest.raises(InputError, match="cache_dir"):
        serial.prepare()


def test_cached_records_are_the_cohorts_own_and_need_no_simulation(cohort, tmp_path, monkeypatch):
    data = CbfDataset(cohort, [3, 1], size=SIZE, cache_dir=tmp_path)
    data.prepare()
    calls = count_simulations(monkeypatch)
    records = data.records()
    assert calls == []  # the regional-CBF baseline reads the cache, it does not simulate the cohort again
    expected = [asl_cohort.subject_record(cohort[k]) for k in (3, 1)]
    assert [r["index"] for r in records] == [3, 1]
    for record, truth in zip(records, expected):
        assert record["labels"] == truth["labels"] and record["site"] == truth["site"]
        assert record["regional_cbf"] == pytest.approx(truth["regional_cbf"], rel=1e-9)
