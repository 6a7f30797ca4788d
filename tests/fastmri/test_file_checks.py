"""Malformed fastMRI files: each is refused with an InputError naming the file and the dataset or field, and
`brainfm recon` writes nothing to --out."""

import h5py
import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.fastmri.h5file import parse_slices, read_fastmri
from brainfm_lite.fastmri.header import parse_header


@pytest.fixture(scope="module")
def kspace(fm):
    return fm.multicoil_kspace(fm.brain_slices((80, 90)))


def malformed(fm, tmp_path, kspace, case):
    """A file broken in one way; returns (path, words the message must hold besides the path, extra options)."""
    path = tmp_path / f"{case}.h5"
    options = []
    if case == "not_hdf5":
        path.write_text("kspace, but as text\n")
        return path, ["HDF5"], options
    if case == "no_kspace":
        fm.write_file(path, kspace=kspace, drop=("kspace",))
        return path, ["'kspace'"], options
    if case == "real_kspace":
        fm.write_file(path, kspace=np.abs(kspace), reference=False)
        return path, ["'kspace'", "complex"], options
    if case == "single_coil":
        fm.write_file(path, kspace=kspace[:, 0])
        return path, ["'kspace'", "single-coil"], options
    if case == "no_header":
        fm.write_file(path, kspace=kspace, drop=("ismrmrd_header",))
        return path, ["'ismrmrd_header'"], options
    if case == "header_without_matrix":
        fm.write_file(path, kspace=kspace, header=fm.header_xml(matrix=False))
        return path, ["'ismrmrd_header'", "encoding/encodedSpace/matrixSize/x"], options
    if case == "header_not_xml":
        fm.write_file(path, kspace=kspace, header=b"<ismrmrdHeader><encoding>")
        return path, ["'ismrmrd_header'", "XML"], options
    if case == "header_other_matrix":
        fm.write_file(path, kspace=kspace, header=fm.header_xml(encoded=(fm.ENCODED[0], fm.ENCODED[1] + 2)))
        return path, ["encoding/encodedSpace/matrixSize", "'kspace'"], options
    if case == "reference_of_other_slices":
        fm.write_file(path, kspace=kspace, drop=("reconstruction_rss",))
        with h5py.File(path, "a") as h5:
            h5.create_dataset("reconstruction_rss", data=np.zeros((5, fm.RECON, fm.RECON), np.float32))
        return path, ["'reconstruction_rss'"], options
    if case == "mask_of_other_width":
        fm.write_file(path, kspace=kspace, mask=np.ones(fm.ENCODED[1] + 1, bool))
        return path, ["'mask'"], options
    if case == "acquired_mask_missing":
        fm.write_file(path, kspace=kspace)
        return path, ["'mask'"], ["--mask", "acquired"]
    if case == "undersampled_but_retrospective":
        mask = np.zeros(fm.ENCODED[1], bool)
        mask[::4] = mask[fm.ENCODED[1] // 2 - 4:fm.ENCODED[1] // 2 + 4] = True
        fm.write_file(path, kspace=kspace * mask, mask=mask)
        return path, ["'mask'", "--mask acquired"], options
    raise AssertionError(case)


CASES = ("not_hdf5", "no_kspace", "real_kspace", "single_coil", "no_header", "header_without_matrix",
         "header_not_xml", "header_other_matrix", "reference_of_other_slices", "mask_of_other_width",
         "acquired_mask_missing", "undersampled_but_retrospective")


@pytest.mark.parametrize("case", CASES)
def test_a_malformed_file_is_refused_by_name_and_nothing_is_written(fm, tmp_path, kspace, case):
    path, words, options = malformed(fm, tmp_path, kspace, case)
    out = tmp_path / "out"
    with pytest.raises(InputError) as error:
        fm.run_recon(path, "--out", out, "--prior", tmp_path / "no_prior", *options)
    message = str(error.value)
    assert str(path) in message
    for word in words:
        assert word in message
    assert not out.exists()


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_fastmri(tmp_path / "absent.h5")


def test_the_header_gives_the_geometry_with_or_without_the_namespace(fm):
    geometry = parse_header(fm.header_xml(), source="f.h5")
    assert geometry.encoded.matrix == (*fm.ENCODED, 1) and geometry.recon.matrix == (fm.RECON, fm.RECON, 1)
    assert geometry.encoded.fov_mm == (384.0, 192.0, 5.0)  # 1 mm pixels, the readout oversampled two-fold
    assert geometry.recon.pixel_mm == (1.0, 1.0)
    bare = parse_header(fm.header_xml().replace(b' xmlns="http://www.ismrm.org/ISMRMRD"', b""), source="f.h5")
    assert bare == geometry


def test_the_phase_encode_limits_say_which_columns_hold_data(fm):
    header = fm.header_xml().replace(b"<maximum>191</maximum>", b"<maximum>159</maximum>")
    geometry = parse_header(header, source="f.h5")
    acquired = geometry.acquired_columns(192)  # fastMRI: padding_left = 96 - 96 = 0, padding_right = 160
    assert acquired[:160] == [True] * 160 and acquired[160:] == [False] * 32


def test_a_file_reads_its_parts_and_chosen_slices(fm, fastmri_file):
    scan = read_fastmri(fastmri_file, slices=parse_slices("1:3"))
    assert scan.slices == [1, 2] and scan.shape == (3, 8, *fm.ENCODED)
    assert scan.reference.shape == (2, fm.RECON, fm.RECON) and scan.mask is None
    assert scan.kspace(0).shape == (8, *fm.ENCODED) and scan.kspace(0).is_complex()
    assert scan.attributes["acquisition"] == "AXFLAIR"
    assert scan.reference_pixel_mm == (1.0, 1.0)


@pytest.mark.parametrize("text", ["1", "a:b", "1:2:3"])
def test_slices_take_a_to_b(text):
    with pytest.raises(InputError, match="--slices"):
        parse_slices(text)


def test_slices_that_choose_nothing_are_refused(fastmri_file):
    with pytest.raises(InputError, match="chooses none"):
        read_fastmri(fastmri_file, slices=parse_slices("5:9"))
