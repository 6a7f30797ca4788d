"""Malformed ASL-BIDS input: `InputError` naming the file and the field, exit code 2, and nothing written."""

import numpy as np
import pytest

from brainfm_lite.asl_bids import quantify_participant
from brainfm_lite.errors import InputError

ASL_JSON = "sub-01/perf/sub-01_asl.json"
CONTEXT = "sub-01/perf/sub-01_aslcontext.tsv"
M0_JSON = "sub-01/perf/sub-01_m0scan.json"
M0_NII = "sub-01/perf/sub-01_m0scan.nii.gz"


def pasl(**changes):
    sidecar = {"ArterialSpinLabelingType": "PASL", "LabelingDuration": None, "BolusCutOffFlag": True,
               "BolusCutOffTechnique": "QUIPSSII", "BolusCutOffDelayTime": 0.8}
    return {**sidecar, **changes}


# name: (asl.json changes, m0scan.json changes, other file replacements, file named, field named)
CASES = {
    "estimate without M0Estimate": ({"M0Type": "Estimate"}, None, {}, ASL_JSON, "M0Estimate"),
    "absent without a cbf volume": ({"M0Type": "Absent"}, None, {}, ASL_JSON, "M0Type"),
    "unknown M0Type": ({"M0Type": "Sometimes"}, None, {}, ASL_JSON, "M0Type"),
    "missing M0Type": ({"M0Type": None}, None, {}, ASL_JSON, "M0Type"),
    "unknown labelling type": ({"ArterialSpinLabelingType": "FAIR"}, None, {}, ASL_JSON, "ArterialSpinLabelingType"),
    "PLD array of the wrong length": ({"PostLabelingDelay": [1.8, 1.8, 1.8]}, None, {}, ASL_JSON,
                                      "PostLabelingDelay"),
    "PLD in milliseconds": ({"PostLabelingDelay": 1800}, None, {}, ASL_JSON, "PostLabelingDelay"),
    "PCASL without LabelingDuration": ({"LabelingDuration": None}, None, {}, ASL_JSON, "LabelingDuration"),
    "LabelingDuration array of the wrong length": ({"LabelingDuration": [1.8]}, None, {}, ASL_JSON,
                                                   "LabelingDuration"),
    "PASL without BolusCutOffFlag": (pasl(BolusCutOffFlag=None), None, {}, ASL_JSON, "BolusCutOffFlag"),
    "PASL without a bolus cut-off": (pasl(BolusCutOffFlag=False), None, {}, ASL_JSON, "BolusCutOffFlag"),
    "PASL without BolusCutOffDelayTime": (pasl(BolusCutOffDelayTime=None), None, {}, ASL_JSON,
                                          "BolusCutOffDelayTime"),
    "PASL with an unsupported cut-off": (pasl(BolusCutOffTechnique="QUIPSS"), None, {}, ASL_JSON,
                                         "BolusCutOffTechnique"),
    "no MagneticFieldStrength": ({"MagneticFieldStrength": None}, None, {}, ASL_JSON, "MagneticFieldStrength"),
    "no BackgroundSuppression": ({"BackgroundSuppression": None}, None, {}, ASL_JSON, "BackgroundSuppression"),
    "2D readout without SliceTiming": ({"MRAcquisitionType": "2D"}, None, {}, ASL_JSON, "SliceTiming"),
    "SliceTiming of the wrong length": ({"MRAcquisitionType": "2D", "SliceTiming": [0.0, 0.05]}, None, {}, ASL_JSON,
                                        "SliceTiming"),
    "Look-Locker readout": ({"LookLocker": True}, None, {}, ASL_JSON, "LookLocker"),
    "aslcontext rows do not match the volumes": ({}, None, {CONTEXT: ["control", "label", "control"]}, CONTEXT,
                                                 "volume_type"),
    "unknown volume type": ({}, None, {CONTEXT: ["control", "label", "tag", "label"]}, CONTEXT, "volume_type"),
    "unpaired control and label": ({}, None, {CONTEXT: ["control", "label", "control", "noRF"]}, CONTEXT,
                                   "volume_type"),
    "Included without m0scan volumes": ({"M0Type": "Included"}, None, {}, CONTEXT, "m0scan"),
    "m0scan without IntendedFor": ({}, {"IntendedFor": None}, {}, M0_JSON, "IntendedFor"),
    "m0scan intended for another series": ({}, {"IntendedFor": "bids::sub-01/perf/sub-01_run-2_asl.nii.gz"}, {},
                                           M0_JSON, "IntendedFor"),
    "m0scan without RepetitionTimePreparation": ({}, {"RepetitionTimePreparation": None}, {}, M0_JSON,
                                                 "RepetitionTimePreparation"),
    "m0scan TR of 0 without a RepetitionTime": ({}, {"RepetitionTimePreparation": 0}, {}, M0_JSON,
                                                "RepetitionTimePreparation"),
    "m0scan on another grid": ({}, None, {M0_NII: np.ones((4, 4, 4))}, M0_NII, "grid"),
    "cbf volume without Units": ({"M0Type": "Absent"}, None, {CONTEXT: ["cbf", "cbf", "cbf", "cbf"]}, ASL_JSON,
                                 "Units"),
}


def write_case(asl, root, case):
    asl_changes, m0_changes, replacements, _, _ = CASES[case]
    files = asl.separate_pcasl_files(sidecar=asl_changes, m0_sidecar=m0_changes)
    files.update(replacements)
    return asl.write(root, files)


@pytest.mark.parametrize("case", list(CASES))
def test_malformed_series_names_file_and_field_and_writes_nothing(asl, tmp_path, case):
    root = write_case(asl, tmp_path / "ds", case)
    named_file, field = str(root / CASES[case][3]), CASES[case][4]
    with pytest.raises(InputError) as caught:
        quantify_participant(root, "01")
    assert named_file in str(caught.value) and field in str(caught.value)

    out = tmp_path / "out"
    code, stderr = asl.run_cbf(root, out)
    assert code == 2
    assert stderr.startswith("brainfm cbf: ") and named_file in stderr and field in stderr
    assert not out.exists()


def test_an_inherited_bad_field_names_the_root_sidecar(asl, tmp_path):
    files = asl.separate_pcasl_files(sidecar={"ArterialSpinLabelingType": None})
    files["asl.json"] = {"ArterialSpinLabelingType": "FAIR"}
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 2
    assert f"{root / 'asl.json'}: ArterialSpinLabelingType 'FAIR'" in stderr


def test_two_applicable_sidecars_at_one_level_are_refused(asl, tmp_path):
    files = asl.separate_pcasl_files()
    files["sub-01/sub-01_asl.json"] = {"PostLabelingDelay": 1.8}
    files["sub-01/asl.json"] = {"PostLabelingDelay": 2.0}
    root = asl.write(tmp_path / "ds", files)
    code, stderr = asl.run_cbf(root, tmp_path / "out")
    assert code == 2
    assert str(root / "sub-01") in stderr and "sub-01_asl.json" in stderr and "rule 4" in stderr
    assert not (tmp_path / "out").exists()


def test_unknown_participant_lists_the_known_ones(asl, tmp_path):
    root = asl.write(tmp_path / "ds", asl.separate_pcasl_files())
    with pytest.raises(InputError, match="sub-02: no such participant folder.*sub-01"):
        quantify_participant(root, "02")


def test_tissue_maps_go_together_and_must_share_the_grid(asl, tmp_path):
    root = asl.write(tmp_path / "ds", asl.separate_pcasl_files())
    t = asl.tissue()
    maps = asl.write(tmp_path / "maps", {"gm.nii.gz": t.gm * 1.0, "wm.nii.gz": t.wm * 1.0,
                                         "csf.nii.gz": np.zeros((4, 4, 4))})
    out = tmp_path / "out"
    code, stderr = asl.run_cbf(root, out, "--gm", str(maps / "gm.nii.gz"))
    assert code == 2 and "--wm" in stderr and "--csf" in stderr
    code, stderr = asl.run_cbf(root, out, "--gm", str(maps / "gm.nii.gz"), "--wm", str(maps / "wm.nii.gz"),
                               "--csf", str(maps / "csf.nii.gz"))
    assert code == 2 and str(maps / "csf.nii.gz") in stderr and "grid" in stderr
    assert not out.exists()
