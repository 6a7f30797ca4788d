"""The dataset registry: complete, consistent entries that fetch can act on safely."""

from pathlib import PurePosixPath

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.fetch.checksums import Checksum
from brainfm_lite.fetch.registry import DATASETS, Dataset, DatasetFile, get_dataset, openneuro_snapshot_url


def _is_safe_relative(path: str) -> bool:
    pure = PurePosixPath(path)
    return bool(path) and not pure.is_absolute() and ".." not in pure.parts and "\\" not in path


def test_registry_holds_the_datasets_the_book_uses():
    assert {"ixi", "openneuro_asl", "hmri_demo", "fastmri_brain"} <= set(DATASETS)
    for key, dataset in DATASETS.items():
        assert isinstance(dataset, Dataset)
        assert key == dataset.name, "the key is the dataset's folder name; they must agree"


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_dataset_says_licence_purpose_and_where_it_comes_from(name):
    dataset = DATASETS[name]
    for field in ("title", "licence", "used_for", "approx_size", "instructions"):
        assert getattr(dataset, field).strip(), f"{name}.{field} is empty"
    assert dataset.licence_url.startswith("https://")
    assert dataset.homepage.startswith("https://")
    assert dataset.access in ("open", "manual")


@pytest.mark.parametrize("name", sorted(n for n, d in DATASETS.items() if d.access == "open"))
def test_open_datasets_list_https_files_with_safe_names(name):
    dataset = DATASETS[name]
    assert dataset.files, f"{name} is open but lists no file to download"
    filenames = [item.filename for item in dataset.files]
    assert len(filenames) == len(set(filenames)), "two files would overwrite each other"
    for item in dataset.files:
        assert item.url.startswith("https://"), item.url
        assert _is_safe_relative(item.filename), item.filename
        assert item.size_bytes is None or item.size_bytes > 0
        assert item.extract_to is None or _is_safe_relative(item.extract_to)


def test_manual_dataset_explains_how_to_get_it_and_lists_no_download():
    fastmri = get_dataset("fastmri_brain")
    assert fastmri.access == "manual"
    assert fastmri.files == ()
    assert "https://fastmri.med.nyu.edu/" in fastmri.instructions
    assert "prepare-fastmri" in fastmri.instructions


def test_ixi_offers_the_three_contrasts_and_asl_is_bids():
    ixi_files = {item.filename for item in get_dataset("ixi").files}
    assert {"IXI-T1.tar", "IXI-T2.tar", "IXI-PD.tar"} <= ixi_files
    asl_files = {item.filename for item in get_dataset("openneuro_asl").files}
    assert "sub-01/perf/sub-01_asl.nii.gz" in asl_files
    assert "sub-01/perf/sub-01_aslcontext.tsv" in asl_files


def test_unknown_name_lists_known_names_and_suggests_the_closest():
    with pytest.raises(InputError) as error:
        get_dataset("ixl")
    message = str(error.value)
    for name in DATASETS:
        assert name in message
    assert "Did you mean 'ixi'" in message


def test_entries_cannot_be_changed_by_accident():
    with pytest.raises(AttributeError):
        get_dataset("ixi").licence = "none"


# ------------------------------------------------------------------------------------------------------------------
# Pins (issue 18, item 4): published digests where a provider has them, a fixed snapshot where it has none


def test_ixi_archives_carry_the_md5_sums_torchio_publishes():
    pins = {item.filename: item.checksum for item in get_dataset("ixi").files}
    assert pins == {
        "IXI-T1.tar": Checksum("md5", "34901a0593b41dd19c1a1f746eac2d58"),
        "IXI-T2.tar": Checksum("md5", "e3140d78730ecdd32ba92da48c0a9aaa"),
        "IXI-PD.tar": Checksum("md5", "88ecd9d1fa33cb4a2278183b42ffd749"),
        "IXI.xls": None,  # no published digest: trust on first use
    }


def test_every_openneuro_file_comes_from_snapshot_2_0_0_by_its_path():
    dataset = get_dataset("openneuro_asl")
    route = "https://openneuro.org/crn/datasets/ds000240/snapshots/2.0.0/files/"
    for item in dataset.files:
        assert item.url == route + item.filename.replace("/", ":"), item.url
    asl = next(item for item in dataset.files if item.filename == "sub-01/perf/sub-01_asl.nii.gz")
    assert asl.url == route + "sub-01:perf:sub-01_asl.nii.gz"
    assert dataset.homepage.endswith("/versions/2.0.0")
    assert "2.0.0" in dataset.instructions and "latest" not in dataset.instructions


def test_openneuro_snapshot_url_refuses_a_path_it_cannot_name():
    for path in ("", "/sub-01/anat/T1w.nii.gz", "sub-01:anat"):
        with pytest.raises(InputError, match="ds000240"):
            openneuro_snapshot_url("ds000240", "2.0.0", path)


def test_a_pin_is_read_from_its_written_form_and_written_back():
    pin = DatasetFile("https://example.org/a", "a", "MD5:34901A0593B41DD19C1A1F746EAC2D58").checksum
    assert pin == Checksum("md5", "34901a0593b41dd19c1a1f746eac2d58")
    assert str(pin) == "md5:34901a0593b41dd19c1a1f746eac2d58"
    assert Checksum.parse(f"sha256:{'ab' * 32}") == Checksum("sha256", "ab" * 32)


MALFORMED_PINS = {
    "no algorithm": ("34901a0593b41dd19c1a1f746eac2d58", "names no algorithm"),
    "unknown algorithm": (f"sha1:{'a' * 40}", "unknown algorithm 'sha1'"),
    "md5 too short": ("md5:34901a0593b41dd19c1a1f746eac2d5", "malformed"),
    "sha256 given an md5": ("sha256:34901a0593b41dd19c1a1f746eac2d58", "malformed"),
    "not hex": ("md5:34901a0593b41dd19c1a1f746eac2dzz", "malformed"),
    "not a string": (12345, "must be a string"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED_PINS))
def test_a_malformed_pin_is_an_input_error_naming_the_file(case):
    written, reason = MALFORMED_PINS[case]
    with pytest.raises(InputError, match=reason) as error:
        DatasetFile("https://example.org/IXI-T1.tar", "IXI-T1.tar", written)
    assert "IXI-T1.tar" in str(error.value)
