"""Safe fetching, against a real HTTP server on 127.0.0.1 serving bytes the tests make: nothing leaves the machine."""

import hashlib
import io
import json
import os
import random
import tarfile
import threading
import time
import zipfile
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from brainfm_lite.errors import ChecksumError, DownloadError, InputError
from brainfm_lite.fetch import archives
from brainfm_lite.fetch import download as download_module
from brainfm_lite.fetch.archives import extract
from brainfm_lite.fetch.dataset_files import fetch, prepare_fastmri
from brainfm_lite.fetch.download import data_dir, download
from brainfm_lite.fetch.registry import DATASETS, Dataset, DatasetFile

REPO = Path(__file__).resolve().parents[2]


def payload(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


# ------------------------------------------------------------------------------------------------------------------
# A small file server whose misbehaviour the tests control


@dataclass
class ServerState:
    files: dict = field(default_factory=dict)  # URL path -> bytes
    ignore_range: bool = False  # answer 200 with the whole file even when asked for a range
    validators: tuple = ("ETag", "Last-Modified")  # the validators sent with every answer (derived from the bytes)
    honour_if_range: bool = True  # False: serve the range asked for even when If-Range names another version
    drop_after: int | None = None  # cut the next response after this many body bytes, then close the connection
    delay_s: float = 0.0  # pause before each body, so that concurrent downloads overlap
    barrier: threading.Barrier | None = None  # each body waits until this many responses are under way
    requests: list = field(default_factory=list)  # (path, Range header or None), one per request
    if_ranges: list = field(default_factory=list)  # the If-Range header of each request, or None
    base_url: str = ""

    def url(self, path: str) -> str:
        return self.base_url + path


def version_headers(body: bytes, names: tuple) -> dict:
    """ETag and Last-Modified of a file version, as a real server derives them from the file."""
    digest = sha(body)
    headers = {"ETag": f'"{digest[:16]}"', "Last-Modified": formatdate(int(digest[:8], 16), usegmt=True)}
    return {name: value for name, value in headers.items() if name in names}


class RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        state = self.server.state
        range_header, if_range = self.headers.get("Range"), self.headers.get("If-Range")
        state.requests.append((self.path, range_header))
        state.if_ranges.append(if_range)
        body = state.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        version = version_headers(body, state.validators)
        if if_range is not None and state.honour_if_range and if_range not in version.values():
            range_header = None  # If-Range names another version: the whole file, as RFC 9110 says
        start = 0
        if range_header and not state.ignore_range:
            start = int(range_header.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.send_version_and_end(version)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        sent = body[start:]
        self.send_header("Content-Length", str(len(sent)))
        self.send_version_and_end(version)
        if state.barrier is not None:
            state.barrier.wait()
        time.sleep(state.delay_s)
        if state.drop_after is not None:
            sent, state.drop_after = sent[: state.drop_after], None  # only this response is cut short
        self.wfile.write(sent)

    def send_version_and_end(self, version: dict) -> None:
        for name, value in version.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def server(monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.state = ServerState(base_url=f"http://127.0.0.1:{httpd.server_address[1]}")
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd.state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


# ------------------------------------------------------------------------------------------------------------------
# download


def test_download_writes_the_verified_file_and_no_part(server, tmp_path):
    data = payload(300_000)
    server.files["/a.bin"] = data
    dest = download(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data), chunk_size=65536, progress=False)
    assert dest.read_bytes() == data
    assert not (tmp_path / "a.bin.part").exists()
    assert server.requests == [("/a.bin", None)]


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    data = payload(300_000, seed=1)
    server.files["/a.bin"] = data
    server.drop_after = 100_000
    dest = tmp_path / "a.bin"
    with pytest.raises(DownloadError, match="run again to resume"):
        download(server.url("/a.bin"), dest, sha256=sha(data), chunk_size=8192, progress=False)
    assert not dest.exists(), "an incomplete file must never get the final name"
    assert (tmp_path / "a.bin.part").stat().st_size == 100_000

    download(server.url("/a.bin"), dest, sha256=sha(data), chunk_size=8192, progress=False)
    assert dest.read_bytes() == data
    assert server.requests[1] == ("/a.bin", "bytes=100000-")
    assert server.if_ranges[1] == version_headers(data, ("ETag",))["ETag"], "the resume names the version it continues"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.bin"], "no .part, sidecar or lock left"


def test_server_ignoring_range_makes_the_download_start_over(server, tmp_path):
    data = payload(50_000, seed=2)
    server.files["/a.bin"] = data
    server.drop_after = 10_000
    with pytest.raises(DownloadError):
        download(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data), progress=False)
    server.ignore_range = True
    dest = download(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests[1][1] is not None, "the resume was attempted"


def test_complete_part_is_verified_when_the_server_has_nothing_more(server, tmp_path, monkeypatch):
    data = payload(20_000, seed=3)
    server.files["/a.bin"] = data
    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # killed after the last byte, before the check: a complete .part
        patch.setattr(download_module, "_verify_part", killed)
        with pytest.raises(KeyboardInterrupt):
            download(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data), progress=False)
    dest = download(server.url("/a.bin"), tmp_path / "a.bin", sha256=sha(data), progress=False)
    assert dest.read_bytes() == data
    assert server.requests == [("/a.bin", None), ("/a.bin", "bytes=20000-")]


def test_checksum_mismatch_raises_and_leaves_nothing_behind(server, tmp_path):
    server.files["/a.bin"] = payload(40_000, seed=4)
    expected = sha(b"the file we were promised")
    dest = tmp_path / "a.bin"
    with pytest.raises(ChecksumError) as error:
        download(server.url("/a.bin"), dest, sha256=expected, progress=False)
    message = str(error.value)
    assert "a.bin" in message and expected in message and sha(server.files["/a.bin"]) in message
    assert not dest.exists()
    assert not (tmp_path / "a.bin.part").exists(), "a retry must start from zero"


def test_present_good_file_is_not_downloaded_again_but_a_bad_one_is(server, tmp_path):
    data = payload(10_000, seed=5)
    server.files["/a.bin"] = data
    dest = tmp_path / "a.bin"
    dest.write_bytes(data)
    download(server.url("/a.bin"), dest, sha256=sha(data), progress=False)
    assert server.requests == []

    dest.write_bytes(b"corrupted")
    download(server.url("/a.bin"), dest, sha256=sha(data), progress=False)
    assert dest.read_bytes() == data
    assert len(server.requests) == 1


def test_http_error_is_a_download_error(server, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(server.url("/missing.bin"), tmp_path / "missing.bin", progress=False)
    assert not (tmp_path / "missing.bin").exists()


# ------------------------------------------------------------------------------------------------------------------
# fetch: registry + lock file


@pytest.fixture
def register(monkeypatch):
    """Add a throw-away dataset to the registry for one test."""

    def add(name: str, files: tuple[DatasetFile, ...], access: str = "open") -> None:
        dataset = Dataset(
            name=name, title=f"test dataset {name}", files=files, licence="CC0", licence_url="https://example.org",
            homepage="https://example.org", approx_size="tiny", used_for="tests", access=access,
            instructions="Ask the test suite nicely.",
        )
        monkeypatch.setitem(DATASETS, name, dataset)

    return add


def test_unpinned_file_is_refused_before_any_download(server, register, tmp_path):
    server.files["/u.bin"] = payload(1000)
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    with pytest.raises(InputError, match="allow_unpinned"):
        fetch("unpinned", data_dir=tmp_path, progress=False)
    assert server.requests == []
    assert not (tmp_path / "unpinned").exists(), "a refused fetch creates nothing"


def test_trust_on_first_use_records_the_hash_then_refuses_a_changed_file(server, register, tmp_path):
    first = payload(5000, seed=6)
    server.files["/u.bin"] = first
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))

    folder = fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert (folder / "u.bin").read_bytes() == first
    assert (folder / "CHECKSUMS.sha256").read_text() == f"{sha(first)}  u.bin\n"

    fetch("unpinned", data_dir=tmp_path, progress=False)  # now locked: no flag needed, nothing downloaded
    assert len(server.requests) == 1

    server.files["/u.bin"] = payload(5000, seed=7)  # upstream changes...
    (folder / "u.bin").unlink()  # ...and the local copy is gone
    with pytest.raises(ChecksumError, match="trusted on first use"):
        fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert not (folder / "u.bin").exists()


def test_fetch_unpacks_a_pinned_archive_once(server, register, tmp_path):
    archive = make_tar({"scans/s1.nii.gz": b"one", "scans/s2.nii.gz": b"two"}, "w:gz")
    server.files["/scans.tar.gz"] = archive
    pinned = DatasetFile(server.url("/scans.tar.gz"), "scans.tar.gz", f"sha256:{sha(archive)}", len(archive), "x")
    register("pinned", (pinned,))

    folder = fetch("pinned", data_dir=tmp_path, progress=False)
    assert (folder / "x" / "scans" / "s2.nii.gz").read_bytes() == b"two"
    fetch("pinned", data_dir=tmp_path, progress=False)
    assert len(server.requests) == 1, "a verified archive is not downloaded again"


def test_fetch_selects_files_and_rejects_unknown_ones(server, register, tmp_path):
    server.files["/a"], server.files["/b"] = b"a", b"b"
    pinned = {name: f"sha256:{sha(name.encode())}" for name in ("a", "b")}
    register("two", (DatasetFile(server.url("/a"), "a", pinned["a"]), DatasetFile(server.url("/b"), "b", pinned["b"])))
    folder = fetch("two", data_dir=tmp_path, files=["b"], progress=False)
    assert sorted(path.name for path in folder.iterdir()) == ["b"]
    with pytest.raises(InputError, match="no file c"):
        fetch("two", data_dir=tmp_path, files=["c"], progress=False)


def test_an_md5_pinned_file_downloads_verified_without_trust_on_first_use(server, register, tmp_path):
    data = payload(30_000, seed=30)
    server.files["/scans.tar"] = data
    register("md5", (DatasetFile(server.url("/scans.tar"), "scans.tar", f"md5:{md5(data)}"),))
    folder = fetch("md5", data_dir=tmp_path, progress=False)  # pinned: no allow_unpinned needed
    assert (folder / "scans.tar").read_bytes() == data
    assert sorted(path.name for path in folder.iterdir()) == ["scans.tar"], "a pinned file writes no lock line"


def test_a_wrong_md5_is_a_checksum_error_and_leaves_no_file(server, register, tmp_path):
    data = payload(30_000, seed=31)
    server.files["/scans.tar"] = data
    promised = md5(b"the archive the provider published")
    register("md5", (DatasetFile(server.url("/scans.tar"), "scans.tar", f"md5:{promised}"),))
    with pytest.raises(ChecksumError) as error:
        fetch("md5", data_dir=tmp_path, progress=False)
    message = str(error.value)
    assert "scans.tar" in message and "md5" in message and promised in message and md5(data) in message
    assert list((tmp_path / "md5").iterdir()) == [], "no file, .part or lock left"


def test_a_present_file_with_the_right_md5_is_kept_and_a_damaged_one_replaced(server, register, tmp_path):
    data = payload(30_000, seed=32)
    server.files["/scans.tar"] = data
    register("md5", (DatasetFile(server.url("/scans.tar"), "scans.tar", f"md5:{md5(data)}"),))
    (tmp_path / "md5").mkdir()
    (tmp_path / "md5" / "scans.tar").write_bytes(data)
    fetch("md5", data_dir=tmp_path, progress=False)
    assert server.requests == [], "a present file that matches its pin is not downloaded again"

    (tmp_path / "md5" / "scans.tar").write_bytes(b"damaged on disk")
    fetch("md5", data_dir=tmp_path, progress=False)
    assert (tmp_path / "md5" / "scans.tar").read_bytes() == data
    assert len(server.requests) == 1


def test_download_takes_an_md5_checksum_and_refuses_two_pins(server, tmp_path):
    data = payload(10_000, seed=33)
    server.files["/a.bin"] = data
    dest = download(server.url("/a.bin"), tmp_path / "a.bin", checksum=f"md5:{md5(data)}", progress=False)
    assert dest.read_bytes() == data
    with pytest.raises(InputError, match="not both"):
        download(server.url("/a.bin"), dest, checksum=f"md5:{md5(data)}", sha256=sha(data), progress=False)
    with pytest.raises(InputError, match="unknown algorithm"):
        download(server.url("/a.bin"), dest, checksum=f"crc32:{'0' * 8}", progress=False)
    assert len(server.requests) == 1, "a bad pin is refused before any request"


def test_manual_dataset_raises_with_its_instructions(tmp_path):
    with pytest.raises(InputError) as error:
        fetch("fastmri_brain", data_dir=tmp_path)
    assert "https://fastmri.med.nyu.edu/" in str(error.value)
    assert not (tmp_path / "fastmri_brain").exists()


# ------------------------------------------------------------------------------------------------------------------
# extract


def make_tar(members: dict, mode: str = "w") -> bytes:
    """Tar bytes; a value is file content (bytes) or a TarInfo for links and special files."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tarred:
        for name, content in members.items():
            if isinstance(content, tarfile.TarInfo):
                content.name = name
                tarred.addfile(content)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tarred.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def link(kind: bytes, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo("placeholder")
    info.type, info.linkname = kind, target
    return info


def device() -> tarfile.TarInfo:
    info = tarfile.TarInfo("placeholder")
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


@pytest.mark.parametrize("mode, suffix", [("w", ".tar"), ("w:gz", ".tgz"), ("w:bz2", ".tar.bz2"), ("w:xz", ".tar.xz")])
def test_extract_tar_of_any_compression(tmp_path, mode, suffix):
    archive = tmp_path / f"a{suffix}"
    members = {"d/one.txt": b"1", "two.txt": b"22", "d/e/ok": link(tarfile.SYMTYPE, "../one.txt")}
    archive.write_bytes(make_tar(members, mode))
    files = extract(archive, tmp_path / "out")
    assert [path.relative_to(tmp_path / "out").as_posix() for path in files] == ["d/e/ok", "d/one.txt", "two.txt"]
    assert (tmp_path / "out" / "d" / "e" / "ok").read_bytes() == b"1", "a link that stays inside is kept"
    assert sorted(path.name for path in tmp_path.iterdir()) == [archive.name, "out"], "no staging folder left"


def test_extract_zip(tmp_path):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("maps/R1.nii", b"r1")
        zipped.writestr("maps/PD.nii", b"pd")
    files = extract(archive, tmp_path / "out")
    assert [path.name for path in files] == ["PD.nii", "R1.nii"]
    assert (tmp_path / "out" / "maps" / "R1.nii").read_bytes() == b"r1"


MALICIOUS_TARS = {
    "parent": {"ok.txt": b"fine", "../evil": b"x"},
    "absolute": {"ok.txt": b"fine", "/tmp/brainfm_evil_absolute": b"x"},
    "symlink out": {"ok.txt": b"fine", "link": link(tarfile.SYMTYPE, "../outside")},
    "absolute symlink": {"ok.txt": b"fine", "link": link(tarfile.SYMTYPE, "/etc")},
    "hardlink out": {"ok.txt": b"fine", "hard": link(tarfile.LNKTYPE, "../outside/file")},
    "through symlink": {"dir": link(tarfile.SYMTYPE, "."), "dir/up": link(tarfile.SYMTYPE, "..")},
    "link via link": {"here": link(tarfile.SYMTYPE, "."), "up": link(tarfile.SYMTYPE, "here/..")},
    "device": {"ok.txt": b"fine", "dev": device()},
}


@pytest.mark.parametrize("case", sorted(MALICIOUS_TARS))
def test_extract_refuses_unsafe_tar_members_before_writing_anything(tmp_path, case):
    work = tmp_path / "work"
    work.mkdir()
    archive = work / "bad.tar"
    archive.write_bytes(make_tar(MALICIOUS_TARS[case]))
    with pytest.raises(InputError, match="bad.tar"):
        extract(archive, work / "out")
    assert [path.name for path in work.iterdir()] == ["bad.tar"], "nothing written inside or beside the target"
    assert [path.name for path in tmp_path.iterdir()] == ["work"], "nothing written outside"
    assert not Path("/tmp/brainfm_evil_absolute").exists()


@pytest.mark.parametrize("name", ["../evil", "/tmp/brainfm_evil_zip", "a/../../evil", "link"])
def test_extract_refuses_unsafe_zip_members(tmp_path, name):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("ok.txt", b"fine")
        info = zipfile.ZipInfo(name)
        if name == "link":
            info.external_attr = 0o120777 << 16  # a symbolic link, as Info-ZIP stores it
        zipped.writestr(info, b"../../outside")
    with pytest.raises(InputError, match="bad.zip"):
        extract(archive, tmp_path / "out")
    assert [path.name for path in tmp_path.iterdir()] == ["bad.zip"]


def test_interrupted_extraction_leaves_no_folder(tmp_path, monkeypatch):
    def extract_then_fail(tarred, folder):
        (folder / "half.txt").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(archives, "_extract_tar", extract_then_fail)
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar({"one.txt": b"1"}))
    with pytest.raises(KeyboardInterrupt):
        extract(archive, tmp_path / "out")
    assert [path.name for path in tmp_path.iterdir()] == ["a.tar"]


def test_extract_refuses_an_existing_target_and_a_non_archive(tmp_path):
    archive = tmp_path / "a.tar"
    archive.write_bytes(make_tar({"one.txt": b"1"}))
    (tmp_path / "out").mkdir()
    with pytest.raises(InputError, match="already exists"):
        extract(archive, tmp_path / "out")
    text = tmp_path / "notes.txt"
    text.write_text("not an archive")
    with pytest.raises(InputError, match="neither a tar nor a zip"):
        extract(text, tmp_path / "other")


# ------------------------------------------------------------------------------------------------------------------
# data directory


def test_data_dir_precedence_argument_then_environment_then_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BRAINFM_DATA", raising=False)
    assert data_dir() == tmp_path / "home" / "brainfm_data"
    monkeypatch.setenv("BRAINFM_DATA", str(tmp_path / "env"))
    assert data_dir() == tmp_path / "env"
    assert data_dir(tmp_path / "arg") == tmp_path / "arg"
    assert data_dir("~/x") == tmp_path / "home" / "x"
    assert not any(path.exists() for path in (tmp_path / "home", tmp_path / "env", tmp_path / "arg"))
    assert data_dir(create=True).is_dir()


def test_data_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(InputError, match="not a folder"):
        data_dir(tmp_path / "file")


# ------------------------------------------------------------------------------------------------------------------
# prepare_fastmri


def write_fastmri(path: Path, shape=(2, 3, 8, 8), acquisition="AXFLAIR", header=True, dtype=np.complex64) -> None:
    with h5py.File(path, "w") as h5:
        h5.create_dataset("kspace", data=np.zeros(shape, dtype=dtype))
        if header:
            h5.create_dataset("ismrmrd_header", data=b"<ismrmrdHeader/>")
        if acquisition is not None:
            h5.attrs["acquisition"] = acquisition


def test_prepare_fastmri_links_files_and_writes_an_index(tmp_path):
    src = tmp_path / "download" / "multicoil_val"
    src.mkdir(parents=True)
    write_fastmri(src / "file_brain_AXFLAIR_1.h5")
    write_fastmri(src / "single.h5", shape=(2, 8, 8), acquisition=None)

    folder = prepare_fastmri(src, data_dir=tmp_path / "data")
    assert folder == tmp_path / "data" / "fastmri_brain"
    assert (folder / "single.h5").samefile(src / "single.h5"), "same file system: a hard link, no copy"
    index = json.loads((folder / "index.json").read_text())
    assert index == [
        {"file": "file_brain_AXFLAIR_1.h5", "shape": [2, 3, 8, 8], "contrast": "AXFLAIR"},
        {"file": "single.h5", "shape": [2, 8, 8], "contrast": None},
    ]

    more = tmp_path / "download" / "train"
    more.mkdir()
    write_fastmri(more / "file_brain_AXT2_2.h5", acquisition="AXT2")
    prepare_fastmri(more, data_dir=tmp_path / "data")
    files = [entry["file"] for entry in json.loads((folder / "index.json").read_text())]
    assert files == ["file_brain_AXFLAIR_1.h5", "file_brain_AXT2_2.h5", "single.h5"]


@pytest.mark.parametrize(
    "make_bad, reason",
    [
        (lambda p: write_fastmri(p, shape=(8, 8)), "kspace"),
        (lambda p: write_fastmri(p, dtype=np.float32), "complex"),
        (lambda p: write_fastmri(p, header=False), "ismrmrd_header"),
        (lambda p: p.write_text("not hdf5"), "HDF5"),
    ],
)
def test_prepare_fastmri_refuses_a_bad_file_naming_it_and_links_nothing(tmp_path, make_bad, reason):
    src = tmp_path / "src"
    src.mkdir()
    write_fastmri(src / "good.h5")
    make_bad(src / "bad.h5")
    with pytest.raises(InputError, match=reason) as error:
        prepare_fastmri(src, data_dir=tmp_path / "data")
    assert "bad.h5" in str(error.value)
    assert not (tmp_path / "data" / "fastmri_brain").exists()


def test_prepare_fastmri_refuses_a_folder_without_h5(tmp_path):
    with pytest.raises(InputError, match="No .h5 files"):
        prepare_fastmri(tmp_path, data_dir=tmp_path / "data")


# ------------------------------------------------------------------------------------------------------------------
# command line


@pytest.fixture(scope="module")
def cli():
    from brainfm_lite.fetch import cli as fetch_cli

    return fetch_cli


def test_cli_list_and_info(cli, capsys):
    assert cli.main(["list"]) == 0
    listing = capsys.readouterr().out
    assert all(name in listing for name in DATASETS)
    assert "md5 published for 3 of 4 files" in listing
    assert cli.main(["info", "ixi"]) == 0
    info = capsys.readouterr().out
    assert "CC BY-SA 3.0" in info
    assert "checksum: md5:34901a0593b41dd19c1a1f746eac2d58" in info, "the pin is shown with its algorithm"
    assert "checksum: none published (trust on first use" in info  # IXI.xls


def test_cli_fetch_says_trust_on_first_use_and_explains_manual_datasets(cli, capsys, server, register, tmp_path):
    server.files["/u.bin"] = b"content"
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    argv = ["fetch", "unpinned", "--data-dir", str(tmp_path), "--no-progress"]
    assert cli.main(argv) == 2  # a refused input is a usage error (brainfm_lite.cli_conventions)
    assert "--allow-unpinned" in capsys.readouterr().err
    assert cli.main(argv + ["--allow-unpinned"]) == 0
    assert "trusted on first use" in capsys.readouterr().out
    assert (tmp_path / "unpinned" / "CHECKSUMS.sha256").exists()

    assert cli.main(["fetch", "fastmri_brain", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "Data Sharing Agreement" in error and error.count("\n") == 1  # the instructions, on one line


# ------------------------------------------------------------------------------------------------------------------
# Hostile inputs (issue 17): nothing wrong is ever trusted, nothing is lost, every failure is a typed error


@pytest.mark.parametrize("upstream", ["honours If-Range", "ignores If-Range", "sends no validator"])
def test_resume_across_an_upstream_change_never_splices_two_versions(server, register, tmp_path, upstream):
    old, new = payload(60_000, seed=20), payload(60_000, seed=21)
    server.files["/u.bin"] = old
    server.honour_if_range = upstream != "ignores If-Range"
    server.validators = () if upstream == "sends no validator" else server.validators
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    server.drop_after = 20_000
    with pytest.raises(DownloadError):
        fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)

    server.files["/u.bin"] = new  # the provider publishes a new version while the .part holds the old one's start
    folder = fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert (folder / "u.bin").read_bytes() == new, "the old version's start was spliced onto the new version"
    assert (folder / "CHECKSUMS.sha256").read_text() == f"{sha(new)}  u.bin\n"
    assert sorted(path.name for path in folder.iterdir()) == ["CHECKSUMS.sha256", "u.bin"]


def test_a_damaged_copy_is_downloaded_again_once_its_lock_line_is_removed(server, register, tmp_path):
    first, second = payload(5000, seed=22), payload(5000, seed=23)
    server.files["/u.bin"] = first
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    folder = fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    (folder / "u.bin").write_bytes(b"damaged on disk")
    server.files["/u.bin"] = second
    with pytest.raises(ChecksumError, match="delete its line"):
        fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)

    (folder / "CHECKSUMS.sha256").write_text("")  # follow the error's advice
    fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert (folder / "u.bin").read_bytes() == second, "the damaged local copy was adopted"
    assert (folder / "CHECKSUMS.sha256").read_text() == f"{sha(second)}  u.bin\n"


def run_at_once(*calls) -> list:
    """Run each call in its own thread; return their results, re-raising the first error."""
    results, errors = [None] * len(calls), []

    def run(index, call):
        try:
            results[index] = call()
        except BaseException as error:  # noqa: BLE001 - handed to the test below
            errors.append(error)

    threads = [threading.Thread(target=run, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    if errors:
        raise errors[0]
    return results


def test_two_fetches_at_once_keep_every_lock_line(server, register, tmp_path):
    server.files["/a"], server.files["/b"] = payload(3000, seed=24), payload(3000, seed=25)
    register("two", (DatasetFile(server.url("/a"), "a"), DatasetFile(server.url("/b"), "b")))
    server.barrier = threading.Barrier(2, timeout=10)  # both downloads are under way before either records its hash
    run_at_once(
        lambda: fetch("two", data_dir=tmp_path, allow_unpinned=True, files=["a"], progress=False),
        lambda: fetch("two", data_dir=tmp_path, allow_unpinned=True, files=["b"], progress=False),
    )
    lines = (tmp_path / "two" / "CHECKSUMS.sha256").read_text()
    assert lines == f"{sha(server.files['/a'])}  a\n{sha(server.files['/b'])}  b\n"


def test_two_fetches_of_one_file_take_turns(server, register, tmp_path):
    data = payload(100_000, seed=26)
    server.files["/u.bin"] = data
    server.delay_s = 0.3  # the first download is still running when the second fetch starts
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    one_fetch = lambda: fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)  # noqa: E731
    run_at_once(one_fetch, one_fetch)
    folder = tmp_path / "unpinned"
    assert (folder / "u.bin").read_bytes() == data
    assert len(server.requests) == 1, "the second fetch waits, then finds the verified file"
    assert sorted(path.name for path in folder.iterdir()) == ["CHECKSUMS.sha256", "u.bin"], "no .part or lock left"


def stored_zip(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zipped:
        for name, content in members.items():
            zipped.writestr(name, content)
    return buffer.getvalue()


def encrypted_zip() -> bytes:
    """A zip whose member says it is encrypted (zipfile cannot write one): bit 0 of its flags, both headers."""
    data = bytearray(stored_zip({"secret.txt": b"password protected"}))
    data[6] |= 0x1  # local file header
    data[data.index(b"PK\x01\x02") + 8] |= 0x1  # central directory
    return bytes(data)


def flip_middle_byte(data: bytes) -> bytes:
    data = bytearray(data)
    data[len(data) // 2] ^= 0xFF
    return bytes(data)


BIG_TAR = {"scans/s1.nii": payload(40_000, seed=27), "scans/s2.nii": payload(40_000, seed=28)}
DAMAGED_ARCHIVES = {
    "encrypted zip": ("a.zip", encrypted_zip, "encrypted"),
    "bad CRC zip": ("a.zip", lambda: stored_zip({"a.txt": b"hello world"}).replace(b"hello", b"jello"), "damaged"),
    "truncated zip": ("a.zip", lambda: stored_zip({"a.txt": payload(5000)})[:3000], "damaged"),
    "truncated tar": ("a.tar", lambda: make_tar(BIG_TAR)[:30_000], "damaged"),
    "truncated tar.gz": ("a.tar.gz", lambda: make_tar(BIG_TAR, "w:gz")[:30_000], "damaged"),
    "bad CRC tar.gz": ("a.tar.gz", lambda: flip_middle_byte(make_tar(BIG_TAR, "w:gz")), "damaged"),
    "truncated tar.xz": ("a.tar.xz", lambda: make_tar(BIG_TAR, "w:xz")[:30_000], "damaged"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED_ARCHIVES))
def test_a_damaged_archive_is_an_input_error_and_leaves_nothing(tmp_path, case):
    name, make, reason = DAMAGED_ARCHIVES[case]
    archive = tmp_path / name
    archive.write_bytes(make())
    with pytest.raises(InputError, match=reason) as error:
        extract(archive, tmp_path / "out")
    assert str(archive) in str(error.value)
    assert [path.name for path in tmp_path.iterdir()] == [name], "nothing extracted, no staging folder left"


@pytest.mark.parametrize("python", ["with the data filter", "without it (older Python)"])
def test_tar_members_lose_setuid_and_shared_write_bits(tmp_path, monkeypatch, python):
    if python.startswith("without"):
        monkeypatch.delattr(tarfile, "data_filter")
    body, info = b"#!/bin/sh\n", tarfile.TarInfo("tool")
    info.mode, info.size = 0o6777, len(body)  # setuid, setgid, writable by anyone
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tarred:
        tarred.addfile(info, io.BytesIO(body))
    extract(archive, tmp_path / "out")
    assert (tmp_path / "out" / "tool").stat().st_mode & 0o7022 == 0


@pytest.mark.parametrize("damage", ["a folder", "not UTF-8", "unreadable"])
def test_a_bad_lock_file_is_an_input_error_naming_it(server, register, tmp_path, monkeypatch, damage):
    server.files["/u.bin"] = b"content"
    register("unpinned", (DatasetFile(server.url("/u.bin"), "u.bin"),))
    lock = tmp_path / "unpinned" / "CHECKSUMS.sha256"
    lock.parent.mkdir()
    if damage == "a folder":
        lock.mkdir()
    elif damage == "not UTF-8":
        lock.write_bytes(b"\xff\xfe not text")
    else:
        lock.write_text(f"{sha(b'content')}  u.bin\n")
        lock.chmod(0)
        if os.geteuid() == 0:  # root reads anything: make the read fail as it would for a user
            read_text = Path.read_text

            def refuse(path, *args, **kwargs):
                if path == lock:
                    raise PermissionError(13, "Permission denied", str(path))
                return read_text(path, *args, **kwargs)

            monkeypatch.setattr(Path, "read_text", refuse)
    with pytest.raises(InputError, match="CHECKSUMS.sha256"):
        fetch("unpinned", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert server.requests == []


@pytest.mark.parametrize("url", ["not a url", "FILE_URI", "ftp://127.0.0.1:9/a.bin", "http://", "http://[::1"])
def test_download_refuses_anything_but_an_http_url(tmp_path, url):
    secret = tmp_path / "secret.txt"
    secret.write_text("local file")
    url = secret.as_uri() if url == "FILE_URI" else url
    with pytest.raises(InputError, match="http"):
        download(url, tmp_path / "out" / "a.bin", progress=False)
    assert [path.name for path in tmp_path.iterdir()] == ["secret.txt"]


@pytest.mark.parametrize("dest, reason", [("a.bin", "is a folder"), ("file/a.bin", "is a file, not a folder")])
def test_download_refuses_a_destination_that_is_a_folder_or_under_a_file(server, tmp_path, dest, reason):
    server.files["/a.bin"] = b"content"
    (tmp_path / "a.bin").mkdir()
    (tmp_path / "file").write_text("a file where a folder should be")
    with pytest.raises(InputError, match=reason):
        download(server.url("/a.bin"), tmp_path / dest, progress=False)
    assert server.requests == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a.bin", "file"]


@pytest.mark.parametrize("index", [b"[{not json", b"\xff\xfe", b'{"file": "a.h5"}', b'[{"name": "a.h5"}]', b"[1]"])
def test_prepare_fastmri_refuses_a_corrupt_index_before_linking_anything(tmp_path, index):
    src = tmp_path / "src"
    src.mkdir()
    write_fastmri(src / "new.h5")
    folder = tmp_path / "data" / "fastmri_brain"
    folder.mkdir(parents=True)
    (folder / "index.json").write_bytes(index)
    with pytest.raises(InputError, match="index.json"):
        prepare_fastmri(src, data_dir=tmp_path / "data")
    assert [path.name for path in folder.iterdir()] == ["index.json"]
    assert (folder / "index.json").read_bytes() == index


def test_trusted_on_first_use_is_said_only_when_a_lock_line_exists(server, register, tmp_path):
    server.files["/u.bin"] = payload(100)
    register("sized", (DatasetFile(server.url("/u.bin"), "u.bin", size_bytes=50),))
    with pytest.raises(ChecksumError, match="100 bytes but expected 50") as error:
        fetch("sized", data_dir=tmp_path, allow_unpinned=True, progress=False)
    assert "trusted on first use" not in str(error.value)
    assert not (tmp_path / "sized" / "CHECKSUMS.sha256").exists()
