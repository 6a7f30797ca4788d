"""Tests for brainfm_lite.datasets.recon_slices: disjoint groups, an unseen test site, shapes, normalisation,
caching."""

import numpy as np
import pytest
import torch

from brainfm_lite.config import load_profile
from brainfm_lite.datasets import recon_slices
from brainfm_lite.errors import InputError
from brainfm_lite.physics import kspace

TINY = dict(n_sites=3, recon_spacing_mm=4.0, recon_image_size=48, recon_source_subjects=2, recon_target_subjects=2,
            recon_many_subjects=1, recon_test_subjects=1, recon_slices_per_subject=2)


@pytest.fixture(scope="module")
def tiny_profile():
    return load_profile("smoke", **TINY)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("recon_cache")


@pytest.fixture(scope="module")
def groups(tiny_profile, cache_dir):
    return recon_slices.recon_datasets(tiny_profile, cache_dir=cache_dir)


def test_groups_have_disjoint_subjects_and_the_test_site_is_unseen(tiny_profile, groups):
    members = recon_slices.recon_subject_groups(tiny_profile)
    assert [len(members[g]) for g in recon_slices.GROUPS] == [2, 2, 1, 1]
    subjects = {g: set(groups[g].subjects.tolist()) for g in recon_slices.GROUPS}
    assert all(subjects[g] == set(members[g]) for g in recon_slices.GROUPS)
    for a in recon_slices.GROUPS:
        for b in recon_slices.GROUPS:
            assert a == b or not subjects[a] & subjects[b]
    test_sites = set(groups["test"].sites.tolist())
    for training in ("source", "target_train", "target_many"):
        assert not test_sites & set(groups[training].sites.tolist())


def test_target_subjects_do_not_change_when_other_groups_grow(tiny_profile):
    bigger = load_profile("smoke", **{**TINY, "recon_source_subjects": 9, "recon_many_subjects": 5})
    assert (recon_slices.recon_subject_groups(bigger)["target_train"]
            == recon_slices.recon_subject_groups(tiny_profile)["target_train"])


def test_items_shapes_dtypes_and_contrasts(groups):
    source, test = groups["source"], groups["test"]
    assert len(test) == 2 and test.images().shape == (2, 48, 48) and test.images().dtype == torch.complex64
    item = test[1]
    assert item["image"].shape == (2, 48, 48) and item["image"].dtype == torch.float32
    torch.testing.assert_close(kspace.to_complex(item["image"]), test.images()[1])
    assert item["contrast"] == "flair" and int(item["site"]) == 2
    assert set(source.contrasts) <= set(recon_slices.SOURCE_CONTRASTS) and len(set(source.contrasts)) > 1
    batch = next(iter(torch.utils.data.DataLoader(source, batch_size=3)))
    assert batch["image"].shape == (3, 2, 48, 48) and len(batch["contrast"]) == 3


def test_slices_are_at_the_scale_reconstruct_normalises_to_complex_and_show_brain(groups):
    for group in groups.values():
        magnitude, brain = group.images().abs(), group.brain
        # the statistic reconstruct divides measured k-space by, computed here on the fully sampled slice
        scales = kspace.acs_scale(kspace.fft2c(group.images())[:, None])
        torch.testing.assert_close(scales, torch.ones(len(group)), rtol=1e-4, atol=0)
        for k in range(len(group)):
            assert 0.8 < np.percentile(magnitude[k][brain[k]].numpy(), 99) < 1.6  # about 1 in the brain
            assert brain[k].float().mean() > 0.2  # a central slice, not the top of the head
            assert magnitude[k][brain[k]].mean() > 3 * magnitude[k][~brain[k]].mean()  # brain, not noise
        assert group.images().imag.abs().max() > 0.1  # a real background phase, not a real-valued image


def test_cached_data_is_read_back_identically(tiny_profile, groups, cache_dir):
    n_subjects = sum(len(m) for m in recon_slices.recon_subject_groups(tiny_profile).values())
    assert len(list(cache_dir.glob("recon-*.npz"))) == n_subjects
    again = recon_slices.recon_datasets(tiny_profile, cache_dir=cache_dir)
    for name in recon_slices.GROUPS:
        assert torch.equal(again[name].images(), groups[name].images())
        assert again[name].contrasts == groups[name].contrasts


def test_central_slices_skip_the_thin_ends_of_the_brain():
    brain = np.zeros((10, 10, 12), dtype=bool)
    brain[:, :, 3:9] = True
    brain[4, 4, 2] = brain[4, 4, 9] = True  # tiny ends
    picks = recon_slices.central_slices(brain, 3)
    assert picks.tolist() == [3, 5, 8]
    assert len(recon_slices.central_slices(brain, 50)) == 6  # never more than the central part holds


def test_fastmri_kspace_is_read_and_reconstructs_to_its_coil_images(tmp_path):
    h5py = pytest.importorskip("h5py")
    coil_images = torch.randn(2, 3, 16, 12, dtype=torch.complex64, generator=torch.Generator().manual_seed(0))
    path = tmp_path / "file_brain_AXFLAIR_000.h5"
    with h5py.File(path, "w") as h5:
        h5["kspace"] = kspace.fft2c(coil_images).numpy()
        h5.attrs["acquisition"] = "AXFLAIR"
    k, meta = recon_slices.load_fastmri_kspace(path)
    assert k.shape == (2, 3, 16, 12) and meta["acquisition"] == "AXFLAIR"
    torch.testing.assert_close(kspace.zero_filled(k), kspace.rss(coil_images), atol=1e-5, rtol=1e-5)
    (tmp_path / "broken.h5").write_text("not hdf5")
    with pytest.raises(InputError):
        recon_slices.load_fastmri_kspace(tmp_path / "broken.h5")


@pytest.mark.parametrize("override", [dict(recon_image_size=40), dict(n_sites=1), dict(recon_target_subjects=0)])
def test_bad_profiles_raise(override):
    with pytest.raises(InputError):
        recon_slices.recon_datasets(load_profile("smoke", **{**TINY, **override}))
