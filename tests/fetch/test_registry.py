"""The dataset registry: complete, consistent entries that fetch can act on safely."""

import re
from pathlib import PurePosixPath

import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.fetch.registry import DATASETS, Dataset, get_dataset

SHA256 = re.compile(r"[0-9a-f]{64}")


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
        assert item.sha256 is None or SHA256.fullmatch(item.sha256), item.sha256
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
