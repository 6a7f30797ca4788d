"""INPUT arguments -> scan files: NIfTI files as given, BIDS roots searched where BIDS puts T1w scans (or CBF maps),
and every file read before any work, each bad one named."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.features.inputs import check_scans, expand_inputs


def test_a_bids_root_gives_its_t1w_scans_sorted_and_nothing_else(bids_root):
    assert expand_inputs([bids_root]) == [bids_root / "sub-01" / "anat" / "sub-01_T1w.nii.gz",
                                          bids_root / "sub-02" / "ses-1" / "anat" / "sub-02_ses-1_run-1_T1w.nii"]


def test_files_and_roots_keep_the_order_given(bids_root, kit):
    found = expand_inputs([kit.MOVED, bids_root, str(kit.ANATOMICAL)])
    assert found[0] == kit.MOVED and found[-1] == kit.ANATOMICAL and len(found) == 4


def test_cbf_maps_are_found_beside_each_other_and_under_perf(tmp_path, kit):
    flat = kit.write_nifti(tmp_path / "sub-01_desc-mean_cbf.nii.gz", np.ones((4, 4, 4)), np.eye(4))
    nested = kit.write_nifti(tmp_path / "sub-02" / "perf" / "sub-02_desc-mean_cbf.nii.gz", np.ones((4, 4, 4)),
                             np.eye(4))
    kit.write_nifti(tmp_path / "sub-02" / "perf" / "sub-02_desc-mean_att.nii.gz", np.ones((4, 4, 4)), np.eye(4))
    assert expand_inputs([tmp_path], modality="CBF") == [flat, nested]
    with pytest.raises(InputError, match="a folder without T1w scans"):
        expand_inputs([tmp_path], modality="T1w")


@pytest.mark.parametrize("name, message", [("absent.nii.gz", "no such file or folder"),
                                           ("notes.txt", "not a NIfTI file name")])
def test_a_path_that_is_no_scan_is_named(tmp_path, name, message):
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match=f"{name}: {message}"):
        expand_inputs([tmp_path / name])


def test_a_folder_without_scans_and_a_scan_named_twice_are_refused(tmp_path, bids_root):
    with pytest.raises(InputError, match=f"{tmp_path / 'empty'}: a folder without T1w scans"):
        (tmp_path / "empty").mkdir()
        expand_inputs([tmp_path / "empty"])
    with pytest.raises(InputError, match="sub-01_T1w.nii.gz: given twice"):
        expand_inputs([bids_root / "sub-01" / "anat" / "sub-01_T1w.nii.gz", bids_root])
    with pytest.raises(InputError, match="no input"):
        expand_inputs([])


def test_check_scans_names_every_file_that_cannot_be_read(tmp_path, kit):
    broken = tmp_path / "broken_T1w.nii.gz"
    broken.write_bytes(b"\x1f\x8b not really gzip")
    check_scans([kit.ANATOMICAL, kit.MOVED])  # both read
    with pytest.raises(InputError, match=r"example4d\.nii\.gz: expected a 3D volume but the file is 4D"):
        check_scans([kit.ANATOMICAL, kit.EXAMPLE_4D])
    with pytest.raises(InputError, match=r"2 of 3 inputs cannot be used") as error:
        check_scans([kit.EXAMPLE_4D, kit.ANATOMICAL, broken])
    assert "example4d.nii.gz" in str(error.value) and "broken_T1w.nii.gz" in str(error.value)
