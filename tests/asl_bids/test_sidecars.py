"""BIDS names and the inheritance principle: which sidecars apply, in which order, and who set each field."""

import json

from brainfm_lite.asl_bids.entities import parse_name
from brainfm_lite.asl_bids.sidecars import read_sidecar


def test_parse_name_reads_entities_suffix_and_extension():
    name = parse_name("sub-01_ses-pre_acq-pcasl_run-2_asl.nii.gz")
    assert (name.entities, name.suffix, name.extension) == (
        {"sub": "01", "ses": "pre", "acq": "pcasl", "run": "2"}, "asl", ".nii.gz")
    assert parse_name("asl.json").entities == {}
    assert parse_name("notes.txt") is None
    assert parse_name("sub-01_broken_asl.json") is None  # "broken" is not key-value


def test_lower_sidecars_override_higher_ones_and_origins_are_kept(tmp_path):
    data = tmp_path / "sub-01" / "ses-1" / "perf" / "sub-01_ses-1_asl.nii.gz"
    data.parent.mkdir(parents=True)
    files = {
        tmp_path / "asl.json": {"PostLabelingDelay": 1.0, "M0Type": "Separate"},
        tmp_path / "run-2_asl.json": {"PostLabelingDelay": 9.0},  # another run: does not apply
        tmp_path / "sub-01" / "sub-01_m0scan.json": {"PostLabelingDelay": 8.0},  # another suffix: does not apply
        tmp_path / "sub-01" / "ses-1" / "sub-01_ses-1_asl.json": {"PostLabelingDelay": 1.8},
        data.with_name("sub-01_ses-1_asl.json"): {"LabelingDuration": 1.5},
    }
    for path, content in files.items():
        path.write_text(json.dumps(content))
    sidecar = read_sidecar(tmp_path, data, suffix="asl")
    assert sidecar.values == {"PostLabelingDelay": 1.8, "M0Type": "Separate", "LabelingDuration": 1.5}
    assert sidecar.file_of("PostLabelingDelay") == tmp_path / "sub-01" / "ses-1" / "sub-01_ses-1_asl.json"
    assert sidecar.file_of("M0Type") == tmp_path / "asl.json"
    assert sidecar.file_of("Missing") == data.with_name("sub-01_ses-1_asl.json")
    assert len(sidecar.files) == 3
