"""Find the data directory; download, verify and unpack the registry's datasets; prepare a fastMRI download.

Nothing runs at import time; only an explicit call downloads. The rules, each one covered by a test:

- Data directory: the ``path`` argument, else the ``BRAINFM_DATA`` environment variable, else ``~/brainfm_data``.
  Dataset ``NAME`` lives in ``<data_dir>/NAME/``.
- A download goes to ``<file>.part`` and is renamed onto ``<file>`` only after its size and sha256 check out, so a file
  under its final name is complete and verified. An interrupted download resumes from the ``.part`` with an HTTP
  ``Range`` request; a server that ignores ``Range`` sends the whole file again and the ``.part`` starts over.
- A checksum mismatch deletes the ``.part`` (so a retry starts clean) and raises `ChecksumError`.
- A file already present with the expected sha256 is not downloaded again.
- Trust on first use: a file with no published sha256 is refused unless the caller passes ``allow_unpinned=True``
  (CLI ``--allow-unpinned``). The first download is then trusted as it is, and its sha256 is written to
  ``<data_dir>/NAME/CHECKSUMS.sha256`` (``sha256sum -c`` format); every later fetch must match that value. This catches
  a file that changes or gets corrupted later; it cannot tell whether the first download was the right file.
- Archives (tar, tar.gz/bz2/xz, zip) are checked member by member before anything is written: no absolute path, no
  ``..``, no link pointing outside the target or through another link, no device or pipe. They unpack into a hidden
  temporary folder beside the target that is renamed into place at the end, so an interrupted extraction never
  leaves a half-filled folder under the final name.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import posixpath
import shutil
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath, PureWindowsPath

import h5py
from tqdm.auto import tqdm

from brainfm_lite.atomic import atomic_dir, atomic_path, write_json
from brainfm_lite.errors import ChecksumError, DownloadError, InputError
from brainfm_lite.fetch.registry import Dataset, DatasetFile, get_dataset

LOCK_FILENAME = "CHECKSUMS.sha256"
FASTMRI_FOLDER = "fastmri_brain"
FASTMRI_INDEX = "index.json"

_USER_AGENT = "brainfm-lite"  # some servers refuse urllib's default agent
_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# Data directory and checksums


def data_dir(path: str | os.PathLike | None = None, *, create: bool = False) -> Path:
    """Return the folder that holds the datasets: ``path``, else ``$BRAINFM_DATA``, else ``~/brainfm_data``.

    Args:
        path: explicit folder; ``~`` is expanded.
        create: make the folder (and its parents) if it does not exist. Without it nothing is created.

    Raises:
        InputError: the chosen path exists but is not a folder.
    """
    if path is not None:
        folder = Path(path)
    elif os.environ.get("BRAINFM_DATA"):
        folder = Path(os.environ["BRAINFM_DATA"])
    else:
        folder = Path("~") / "brainfm_data"
    folder = folder.expanduser()
    if folder.exists() and not folder.is_dir():
        raise InputError(f"Data directory {folder} exists but is not a folder")
    if create:
        folder.mkdir(parents=True, exist_ok=True)
    return folder


# fetch() and prepare_fastmri() take an argument named ``data_dir``, which hides the function inside them.
_resolve_data_dir = data_dir


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks of ``chunk_size`` bytes (constant memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------------------------
# Download


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    sha256: str | None = None,
    size_bytes: int | None = None,
    chunk_size: int = 1 << 20,
    timeout: float = 60,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming a partial download and verifying the result before it gets its name.

    Args:
        url: http(s) address.
        dest: final path of the file. Bytes arrive in ``dest + ".part"`` first.
        sha256: expected hex digest. None skips the content check (the size is still checked when known).
        size_bytes: expected size in bytes; None uses the size the server announces, if any.
        chunk_size: bytes read and written at a time.
        timeout: seconds to wait for the server before giving up on a connection or a read.
        progress: show a tqdm progress bar.

    Returns:
        ``dest`` as a Path. If ``dest`` already exists with the expected sha256 (or exists and ``sha256`` is None),
        nothing is downloaded.

    Raises:
        ChecksumError: the downloaded bytes do not match ``sha256`` or are longer than expected. The ``.part`` is
            deleted so that the next call starts from zero; nothing is written under ``dest``.
        DownloadError: network or HTTP failure, or the server closed the connection early. The ``.part`` is kept
            so that the next call resumes.
    """
    dest = Path(dest)
    if dest.exists():
        if sha256 is None:
            _log.info("%s is present; no checksum to check it against, kept as it is", dest)
            return dest
        if sha256_of(dest, chunk_size) == sha256:
            _log.info("%s is present and its sha256 matches; not downloading it again", dest)
            return dest
        _log.warning("%s is present but its sha256 does not match; downloading it again", dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    announced_size = _receive(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)
    expected_size = size_bytes if size_bytes is not None else announced_size
    _verify_part(part, dest, url=url, sha256=sha256, expected_size=expected_size, chunk_size=chunk_size)
    os.replace(part, dest)
    return dest


def _receive(url: str, part: Path, *, chunk_size: int, timeout: float, progress: bool) -> int | None:
    """Append the bytes missing from ``part`` (all if it is absent); return the full size the server announced."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # "Range not satisfiable": the .part already holds every byte; verification decides if they are right.
            return _full_size(error.headers.get("Content-Range"))
        raise DownloadError(f"Could not download {url}: HTTP {error.code} {error.reason}") from error
    except OSError as error:  # URLError, refused connection, timeout
        raise DownloadError(f"Could not download {url}: {error}") from error

    with response:
        if offset and response.status == 206:
            if _range_start(response.headers.get("Content-Range")) != offset:
                # Not the range we asked for: drop what we have and ask for the whole file (once: no .part, no Range).
                response.close()
                part.unlink()
                return _receive(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)
            total, mode = _full_size(response.headers.get("Content-Range")), "ab"
        else:
            # A 200 answer carries the whole file, also when we asked for a range (the server ignored it).
            length = response.headers.get("Content-Length")
            offset, total, mode = 0, int(length) if length else None, "wb"
        bar = tqdm(total=total, initial=offset, unit="B", unit_scale=True, desc=part.name, disable=not progress)
        try:
            with open(part, mode) as out, bar:
                while chunk := response.read(chunk_size):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(
                f"Download of {url} interrupted after {part.stat().st_size} bytes ({error}); "
                f"{part} is kept: run again to resume"
            ) from error
    return total


def _range_start(content_range: str | None) -> int | None:
    """First byte of a ``Content-Range: bytes START-END/TOTAL`` header, or None if absent or unreadable."""
    try:
        return int(content_range.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _full_size(content_range: str | None) -> int | None:
    """TOTAL of a ``Content-Range: bytes START-END/TOTAL`` (or ``bytes */TOTAL``) header, or None if unknown."""
    try:
        return int(content_range.rsplit("/", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None


def _verify_part(
    part: Path, dest: Path, *, url: str, sha256: str | None, expected_size: int | None, chunk_size: int
) -> None:
    """Check the size and sha256 of a finished ``.part``; delete it if its bytes are wrong."""
    size = part.stat().st_size
    if expected_size is not None and size < expected_size:
        raise DownloadError(
            f"Download of {url} stopped after {size} of {expected_size} bytes; {part} is kept: run again to resume"
        )
    if expected_size is not None and size > expected_size:
        part.unlink()
        raise ChecksumError(
            f"{dest.name}: downloaded {size} bytes but expected {expected_size}; the partial file was deleted"
        )
    if sha256 is not None:
        actual = sha256_of(part, chunk_size)
        if actual != sha256:
            part.unlink()
            raise ChecksumError(
                f"{dest.name}: sha256 {actual} does not match the expected {sha256}; the download was deleted "
                f"and nothing was written to {dest}"
            )


# ----------------------------------------------------------------------------------------------------------------
# Safe extraction


def extract(archive: str | os.PathLike, target: str | os.PathLike) -> list[Path]:
    """Unpack a tar (plain, gz, bz2, xz) or zip archive into the new folder ``target``.

    Every member is checked before anything is written; one unsafe member refuses the whole archive. The archive
    unpacks into a hidden folder beside ``target`` which is renamed to ``target`` at the end.

    Args:
        archive: the archive file.
        target: folder to create; it must not exist yet.

    Returns:
        The unpacked files (not folders) under ``target``, sorted.

    Raises:
        InputError: ``target`` exists; the file is not a tar or zip archive; or a member is unsafe (absolute path,
            ``..``, a link pointing outside ``target`` or through another link, a device, pipe or zip symlink).
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise InputError(f"Cannot extract {archive} into {target}: that folder already exists")
    with open(archive, "rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    if is_zip:
        with zipfile.ZipFile(archive) as zipped:
            _check_zip_members(zipped, archive)
            _unpack_into(target, zipped.extractall)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive, "r:*") as tarred:
            _check_tar_members(tarred, archive)
            _unpack_into(target, lambda folder: _extract_tar(tarred, folder))
    else:
        raise InputError(f"{archive} is neither a tar nor a zip archive")
    return sorted(path for path in target.rglob("*") if path.is_file())


def _unpack_into(target: Path, unpack) -> None:
    """Run ``unpack(folder)`` on a temporary folder beside ``target``, then rename it to ``target``."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(target) as staging:  # removed on any error, KeyboardInterrupt included
        unpack(staging)


def _extract_tar(tarred: tarfile.TarFile, folder: Path) -> None:
    # Python's own "data" filter (3.12, and 3.8-3.11 security releases) repeats our checks at write time.
    if hasattr(tarfile, "data_filter"):
        tarred.extractall(folder, filter="data")
    else:
        tarred.extractall(folder)


def _check_member_name(name: str, archive: Path) -> None:
    """Refuse a member path that is empty, absolute, has a drive, or climbs with ``..`` (POSIX or Windows style)."""
    posix, windows = PurePosixPath(name), PureWindowsPath(name)
    if not name or posix.is_absolute() or windows.is_absolute() or windows.drive or name.startswith("\\"):
        raise InputError(f"{archive}: member {name!r} has an absolute path; refusing to extract the archive")
    if ".." in posix.parts or ".." in windows.parts:
        raise InputError(f"{archive}: member {name!r} climbs out with '..'; refusing to extract the archive")


def _escapes(path: str) -> bool:
    """True if a relative POSIX path, once normalised, points outside the folder it is relative to."""
    normal = posixpath.normpath(path)
    return normal.startswith("/") or normal == ".." or normal.startswith("../")


def _through_symlink(folder: str, symlinks: set[str]) -> bool:
    """True if any step of the relative path ``folder``, taken before normalising, is one of the archive's symlinks.

    A lexical check cannot follow links: "link/.." is "." on paper but the parent of wherever "link" points in the
    file system. So no member path or link target may pass through a link.
    """
    prefix = ""
    for part in PurePosixPath(folder).parts:
        prefix = posixpath.join(prefix, part)
        if posixpath.normpath(prefix) in symlinks:
            return True
    return False


def _check_tar_members(tarred: tarfile.TarFile, archive: Path) -> None:
    members = tarred.getmembers()
    # All links first: a member may pass through a link that comes later in the archive.
    symlinks = {posixpath.normpath(member.name) for member in members if member.issym()}
    for member in members:
        _check_member_name(member.name, archive)
        folder = posixpath.dirname(posixpath.normpath(member.name))
        if _through_symlink(folder, symlinks):
            raise InputError(f"{archive}: member {member.name!r} goes through a symbolic link; refusing to extract")
        if member.issym():
            link_target = posixpath.join(folder, member.linkname)
            if _escapes(link_target) or _through_symlink(posixpath.dirname(link_target), symlinks):
                raise InputError(
                    f"{archive}: symbolic link {member.name!r} -> {member.linkname!r} points outside the target"
                )
        elif member.islnk():
            # A hard link's target is a path from the archive's root.
            if _escapes(member.linkname) or _through_symlink(posixpath.dirname(member.linkname), symlinks):
                raise InputError(
                    f"{archive}: hard link {member.name!r} -> {member.linkname!r} points outside the target"
                )
        elif not (member.isreg() or member.isdir()):
            raise InputError(f"{archive}: member {member.name!r} is a device, pipe or other special file")


def _check_zip_members(zipped: zipfile.ZipFile, archive: Path) -> None:
    for info in zipped.infolist():
        _check_member_name(info.filename, archive)
        unix_mode = info.external_attr >> 16
        # zipfile would write a symlink entry as a small text file, silently changing the dataset.
        if (unix_mode & 0o170000) == 0o120000:
            raise InputError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")


# ----------------------------------------------------------------------------------------------------------------
# Fetch a registered dataset


def fetch(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    allow_unpinned: bool = False,
    files: list[str] | None = None,
    progress: bool = True,
) -> Path:
    """Download (or find) the open dataset ``name`` under ``<data_dir>/<name>/``, verified and unpacked.

    Every file is checked against its registered sha256, or else against the lock file
    ``<data_dir>/<name>/CHECKSUMS.sha256``. A file with neither is refused before any byte is downloaded, unless
    ``allow_unpinned=True``: trust on first use, where the first download is accepted as it is and its sha256 is
    recorded in the lock file, so that any later change to the file is caught. Archives are unpacked into their
    ``extract_to`` folder once; the archive itself is kept so it can be verified again.

    Args:
        name: a key of `brainfm_lite.fetch.registry.DATASETS`.
        data_dir: data directory; see `data_dir`.
        allow_unpinned: accept files that have no published sha256 (trust on first use, see above).
        files: fetch only these filenames of the dataset (default: all).
        progress: show tqdm progress bars.

    Returns:
        The dataset's folder.

    Raises:
        InputError: unknown dataset or filename; a manual (licence-gated) dataset, the message saying how to get it;
            an unpinned file without ``allow_unpinned``.
        ChecksumError: a download does not match its pinned or locked sha256 (a present file that does not match
            is downloaded again first).
        DownloadError: a network failure; run again to resume.
    """
    dataset = get_dataset(name)
    if dataset.access == "manual":
        raise InputError(f"{dataset.title} cannot be downloaded automatically.\n{dataset.instructions}")
    chosen = _select_files(dataset, files)
    folder = _resolve_data_dir(data_dir) / dataset.name
    locked = _read_lock(folder)
    unpinned = [item.filename for item in chosen if item.sha256 is None and item.filename not in locked]
    if unpinned and not allow_unpinned:
        raise InputError(
            f"{dataset.name}: no published sha256 for {', '.join(unpinned)}. Pass allow_unpinned=True "
            f"(CLI: --allow-unpinned) to trust the first download; its sha256 is then recorded in "
            f"{folder / LOCK_FILENAME} and every later fetch is checked against it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    for item in chosen:
        expected = item.sha256 or locked.get(item.filename)
        try:
            path = download(
                item.url, folder / item.filename, sha256=expected, size_bytes=item.size_bytes, progress=progress
            )
        except ChecksumError as error:
            if item.sha256 is None:  # the hash came from our own lock file, not from the provider
                raise ChecksumError(
                    f"{error}. The file differs from the one trusted on first use (see {folder / LOCK_FILENAME}); "
                    f"if the provider published a new version on purpose, delete its line there to trust it."
                ) from error
            raise
        if expected is None:
            locked[item.filename] = sha256_of(path)
            _write_lock(folder, locked)
            _log.warning(
                "Trust on first use: %s has no published sha256; recorded %s in %s",
                item.filename, locked[item.filename], folder / LOCK_FILENAME,
            )
        if item.extract_to and not (folder / item.extract_to).exists():
            extract(path, folder / item.extract_to)
    return folder


def _select_files(dataset: Dataset, filenames: list[str] | None) -> list[DatasetFile]:
    if filenames is None:
        return list(dataset.files)
    by_name = {item.filename: item for item in dataset.files}
    unknown = [filename for filename in filenames if filename not in by_name]
    if unknown:
        raise InputError(
            f"{dataset.name} has no file {', '.join(unknown)}; its files are: {', '.join(by_name)}"
        )
    return [by_name[filename] for filename in filenames]


def _read_lock(folder: Path) -> dict[str, str]:
    """Read ``CHECKSUMS.sha256`` (``<sha256>  <filename>`` lines) as {filename: sha256}; empty if absent."""
    lock = folder / LOCK_FILENAME
    if not lock.exists():
        return {}
    hashes = {}
    for number, line in enumerate(lock.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, filename = line.partition("  ")
        if len(digest) != 64 or not filename or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(f"{lock}, line {number}: expected '<64 hex digits>  <filename>', got {line!r}")
        hashes[filename] = digest
    return hashes


def _write_lock(folder: Path, hashes: dict[str, str]) -> None:
    """Write the lock file atomically, sorted, in the format ``sha256sum -c`` reads."""
    with atomic_path(folder / LOCK_FILENAME) as temporary:
        temporary.write_text("".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes)))


# ----------------------------------------------------------------------------------------------------------------
# fastMRI: check and index what the user downloaded


def prepare_fastmri(src_dir: str | os.PathLike, *, data_dir: str | os.PathLike | None = None) -> Path:
    """Check the fastMRI ``.h5`` files under ``src_dir`` and link them into ``<data_dir>/fastmri_brain/``.

    Each file must hold a complex ``kspace`` dataset of shape [slices, H, W] (single-coil) or
    [slices, coils, H, W] (multi-coil) and an ``ismrmrd_header``. Every file is checked before any is linked.
    Files are hard-linked when ``src_dir`` is on the same file system (no extra space), else copied. The folder's
    ``index.json`` lists, for each file, its name, k-space shape and contrast (the ``acquisition`` attribute, e.g.
    ``"AXFLAIR"``, or null); preparing another folder later adds to it.

    Args:
        src_dir: folder searched recursively for ``*.h5`` files (e.g. an unpacked ``brain_multicoil_val`` archive).
        data_dir: data directory; see `data_dir`.

    Returns:
        The ``fastmri_brain`` folder.

    Raises:
        InputError: ``src_dir`` is not a folder or holds no ``.h5`` file; two files share a name; a file is not
            readable HDF5 or lacks a valid ``kspace`` or ``ismrmrd_header`` (the message names the file).
    """
    src_dir = Path(src_dir).expanduser()
    if not src_dir.is_dir():
        raise InputError(f"{src_dir} is not a folder; give the folder holding the fastMRI .h5 files")
    sources = sorted(src_dir.rglob("*.h5"))
    if not sources:
        raise InputError(f"No .h5 files under {src_dir}; unpack the fastMRI archive (tar -xJf ...) first")
    names = [source.name for source in sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(f"Several files under {src_dir} are named {', '.join(duplicates)}; prepare them separately")
    entries = [_describe_fastmri_file(source) for source in sources]

    folder = _resolve_data_dir(data_dir, create=True) / FASTMRI_FOLDER
    folder.mkdir(exist_ok=True)
    for source in sources:
        _link_or_copy(source, folder / source.name)
    index_path = folder / FASTMRI_INDEX
    index = {entry["file"]: entry for entry in json.loads(index_path.read_text())} if index_path.exists() else {}
    index.update({entry["file"]: entry for entry in entries})
    write_json(index_path, [index[name] for name in sorted(index)])
    return folder


def _describe_fastmri_file(path: Path) -> dict:
    """Check one fastMRI file; return {"file", "shape", "contrast"} for the index."""
    try:
        with h5py.File(path, "r") as h5:
            kspace = h5.get("kspace")
            if not isinstance(kspace, h5py.Dataset) or kspace.ndim not in (3, 4):
                raise InputError(
                    f"{path}: needs a 'kspace' dataset of 3 dims [slices, H, W] or 4 dims [slices, coils, H, W]"
                )
            if kspace.dtype.kind != "c":
                raise InputError(f"{path}: 'kspace' is {kspace.dtype}, expected complex values")
            if "ismrmrd_header" not in h5:
                raise InputError(f"{path}: no 'ismrmrd_header' dataset; not a fastMRI raw-data file")
            shape = [int(n) for n in kspace.shape]
            contrast = h5.attrs.get("acquisition")
    except OSError as error:  # h5py's error for a file that is not HDF5 or is truncated
        raise InputError(f"{path}: not a readable HDF5 file ({error})") from error
    if isinstance(contrast, bytes):
        contrast = contrast.decode("utf-8", errors="replace")
    return {"file": path.name, "shape": shape, "contrast": None if contrast is None else str(contrast)}


def _link_or_copy(source: Path, dest: Path) -> None:
    """Hard-link ``source`` to ``dest`` (copy across file systems); replace ``dest`` atomically if it differs."""
    if dest.exists() and os.path.samefile(source, dest):
        return
    with atomic_path(dest) as temporary:
        try:
            os.link(source, temporary)
        except OSError:  # another file system, or links not supported
            shutil.copy2(source, temporary)
