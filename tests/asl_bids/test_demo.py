"""`write_example_dataset`: a valid ASL-BIDS dataset that `brainfm cbf` turns back into its known CBF, with QEI."""

import json

import nibabel as nib
import numpy as np
import pytest

from brainfm_lite.asl_bids import write_example_dataset
from brainfm_lite.errors import InputError


@pytest.mark.parametrize(("labelling_type", "m0_type"), [("PCASL", "Separate"), ("CASL", "Included"),
                                                         ("PASL", "Separate")])
def test_example_dataset_round_trip_with_qei(asl, tmp_path, labelling_type, m0_type):
    example = write_example_dataset(tmp_path / "ds", labelling_type=labelling_type, m0_type=m0_type,
                                    shape=(16, 16, 8), cbf_gm=55.0)
    assert json.loads((example.root / "sub-01/perf/sub-01_asl.json").read_text())["M0Type"] == m0_type
    code, stderr = asl.run_cbf(example.root, tmp_path / "out", "--gm", str(example.gm), "--wm", str(example.wm),
                               "--csf", str(example.csf))
    assert code == 0, stderr
    cbf = np.asarray(nib.load(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz").dataobj)
    assert cbf[example.gm_mask].mean() == pytest.approx(55.0, rel=0.02)
    np.testing.assert_allclose(cbf, example.cbf_true, atol=0.05)
    sidecar = json.loads((tmp_path / "out" / "sub-01_desc-mean_cbf.json").read_text())
    assert 0.5 < sidecar["QEI"] <= 1.0  # a clean map that follows the tissue scores high


def test_noise_makes_the_example_imperfect(asl, tmp_path):
    example = write_example_dataset(tmp_path / "ds", shape=(16, 16, 8), noise_sd=5.0, seed=1)
    code, stderr = asl.run_cbf(example.root, tmp_path / "out")
    assert code == 0, stderr
    cbf = np.asarray(nib.load(tmp_path / "out" / "sub-01_desc-mean_cbf.nii.gz").dataobj)
    assert not np.allclose(cbf, example.cbf_true, atol=0.05)
    assert cbf[example.gm_mask].mean() == pytest.approx(60.0, rel=0.1)


def test_default_output_folder_is_a_derivatives_folder_of_the_dataset(tmp_path):
    from brainfm_lite import cli

    example = write_example_dataset(tmp_path / "ds", shape=(8, 8, 8))
    assert cli.main(["cbf", str(example.root), "--participant", "01"]) == 0
    assert (example.root / "derivatives" / "brainfm_lite" / "sub-01_desc-mean_cbf.nii.gz").is_file()


def test_example_refuses_unknown_types(tmp_path):
    with pytest.raises(InputError, match="labelling_type 'FAIR'"):
        write_example_dataset(tmp_path / "ds", labelling_type="FAIR")
    with pytest.raises(InputError, match="m0_type 'Absent'"):
        write_example_dataset(tmp_path / "ds", m0_type="Absent")
