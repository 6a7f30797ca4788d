"""features_from_scans: nibabel's test scans, the MNI152 template and a hand-made BIDS root -> one row per scan,
each the encoder's output on the scan prepared by the encoder's recipe; CBF maps with a CBF recipe, the shipped
ASL encoder included; bad encoders and inputs refused before any work."""

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import torch

from brainfm_lite.data import load_volume
from brainfm_lite.errors import InputError
from brainfm_lite.features import FeatureTable, features_from_scans, read_recipe
from brainfm_lite.preprocess import preprocess

SHIPPED_MAE = Path(__file__).resolve().parents[2] / "book" / "results" / "reference" / "weights" / "mae_cbf"


def embed(encoder, volume) -> np.ndarray:
    """The encoder's features of one prepared volume [X, Y, Z], computed here without the package's loop."""
    with torch.no_grad():
        return encoder.eval()(torch.from_numpy(np.array(volume.data))[None, None]).numpy()[0]


def test_one_row_per_scan_each_the_encoder_on_the_scan_prepared_by_its_recipe(t1_encoder, mni_file, kit):
    scans = [kit.ANATOMICAL, kit.MOVED, mni_file]
    table = features_from_scans(t1_encoder, scans, batch_size=2, device="cpu")
    assert table.files == [str(p) for p in scans] and table.features.shape == (3, 8)
    assert table.features.dtype == np.float32 and np.isfinite(table.features).all()
    options = read_recipe(t1_encoder).preprocess_options()
    assert options["register"] is None and options["spacing_mm"] == 4.0
    for row, scan in zip(table.features, scans):
        np.testing.assert_allclose(row, embed(kit.tiny_encoder(), preprocess(load_volume(scan), **options)),
                                   rtol=1e-5, atol=1e-6)
    assert not np.allclose(table.features[0], table.features[2], atol=1e-4)  # a head and the template differ


def test_a_bids_root_gives_one_row_per_subject_named_by_its_file(t1_encoder, bids_root):
    table = features_from_scans(t1_encoder, [bids_root], device="cpu")
    assert table.files == [str(bids_root / "sub-01" / "anat" / "sub-01_T1w.nii.gz"),
                           str(bids_root / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_run-1_T1w.nii")]
    assert table.features.shape == (2, 8)


def test_a_module_with_a_recipe_gives_what_its_saved_folder_gives(t1_encoder, kit):
    from_folder = features_from_scans(t1_encoder, [kit.ANATOMICAL], device="cpu")
    from_module = features_from_scans(kit.tiny_encoder(), [kit.ANATOMICAL], recipe=kit.T1_RECIPE, device="cpu")
    np.testing.assert_array_equal(from_folder.features, from_module.features)
    with pytest.raises(InputError, match="needs recipe="):
        features_from_scans(kit.tiny_encoder(), [kit.ANATOMICAL])


def test_rigid_registration_at_4_mm_with_the_template_mask(tmp_path, kit):
    folder = kit.save_encoder(tmp_path / "rigid", {**kit.T1_RECIPE, "registration": "rigid", "brain_mask": "mni"})
    table = features_from_scans(folder, [kit.ANATOMICAL], device="cpu")
    assert table.features.shape == (1, 8) and np.isfinite(table.features).all()


def test_cbf_maps_with_a_cbf_recipe(tmp_path, cbf_file, kit):
    folder = kit.save_encoder(tmp_path / "cbf_encoder", kit.CBF_RECIPE)
    table = features_from_scans(folder, [cbf_file.parent], device="cpu")  # the folder: its *_cbf maps
    assert table.files == [str(cbf_file)] and table.features.shape == (1, 8)
    with pytest.raises(InputError, match="a folder without CBF scans"):
        features_from_scans(folder, [tmp_path / "cbf_encoder"], device="cpu")


@pytest.mark.parametrize("name, width", [("mae_cbf", 96), ("simclr_cbf", 64)])
def test_the_shipped_asl_encoders_embed_cbf_maps_by_their_own_recipe(cbf_file, tmp_path, name, width):
    """The shipped folders (3 mm, 64^3, brain = nonzero voxels, z-score): the MAE's ViT encoder gives 96 features
    a map, SimCLR's 3D CNN 64; the same for the same map under another name."""
    copy = tmp_path / "sub-02_desc-mean_cbf.nii.gz"
    shutil.copy(cbf_file, copy)
    table = features_from_scans(SHIPPED_MAE.parent / name, [cbf_file, copy], device="cpu")
    assert table.features.shape == (2, width) and np.isfinite(table.features).all()
    np.testing.assert_array_equal(table.features[0], table.features[1])


def test_a_cbf_map_not_masked_to_the_brain_is_refused(tmp_path, cbf_file, kit):
    image = nib.load(cbf_file)
    unmasked = kit.write_nifti(tmp_path / "sub-03_cbf.nii.gz", image.get_fdata() + 1.0, image.affine)
    with pytest.raises(InputError, match=r"sub-03_cbf\.nii\.gz: 100% of its voxels are nonzero; .*\(mask it first\)"):
        features_from_scans(SHIPPED_MAE, [cbf_file, unmasked], device="cpu")


def test_an_encoder_whose_input_differs_from_its_recipe_is_refused(tmp_path, kit):
    folder = kit.save_encoder(tmp_path / "enc", {**kit.T1_RECIPE, "shape": [32, 32, 32]})
    with pytest.raises(InputError, match=r"takes volumes of \(16, 16, 16\) voxels but its recipe prepares "
                                         r"\(32, 32, 32\)"):
        features_from_scans(folder, [kit.ANATOMICAL], device="cpu")


def test_a_bad_input_fails_before_any_work_naming_it(t1_encoder, kit, monkeypatch):
    prepared = []
    monkeypatch.setattr("brainfm_lite.features.scans.preprocess", lambda *a, **k: prepared.append(a))
    with pytest.raises(InputError, match=r"example4d\.nii\.gz: expected a 3D volume but the file is 4D"):
        features_from_scans(t1_encoder, [kit.ANATOMICAL, kit.EXAMPLE_4D], device="cpu")
    assert prepared == []  # refused while reading, before the first scan was preprocessed


@pytest.mark.parametrize("options, message", [({"batch_size": 0}, "batch_size must be a positive integer"),
                                              ({"device": "gpu"}, "device must be")])
def test_bad_options_are_refused(t1_encoder, kit, options, message):
    with pytest.raises(InputError, match=message):
        features_from_scans(t1_encoder, [kit.ANATOMICAL], **options)


def test_the_table_round_trips_through_csv(tmp_path):
    table = FeatureTable(files=["a,b.nii.gz", "c.nii"], features=np.array([[0.1, -2.5e-8], [3.0, 1e6]]))
    path = table.to_csv(tmp_path / "out" / "features.csv")
    assert path.read_text().splitlines()[0] == "file,f0,f1"
    back = FeatureTable.from_csv(path)
    assert back.files == table.files and np.array_equal(back.features, table.features)
    with pytest.raises(InputError, match="one row per file"):
        FeatureTable(files=["a"], features=np.zeros((2, 3)))
