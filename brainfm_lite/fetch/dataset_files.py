"""Put a dataset's files into the data directory: fetch a registered dataset, verified and unpacked, or check and
index the fastMRI files a user downloaded.

Nothing runs at import time; only an explicit call fetches. The rules, each one covered by a test:

- Every file is downloaded (`brainfm_lite.fetch.download`) and checked against its published digest (``sha256:`` or
  ``md5:``, `brainfm_lite.fetch.checksums`), else against the sha256 recorded in ``<data_dir>/NAME/CHECKSUMS.sha256``
  (``sha256sum -c`` format). A published digest wins over a recorded one.
- Trust on first use: a file with no published digest is refused unless the caller passes ``allow_unpinned=True``
  (CLI ``--allow-unpinned``). The first download is then trusted as it is, and its sha256 is written to
  ``<data_dir>/NAME/CHECKSUMS.sha256``; every later fetch must match that value. This catches a file that changes or
  gets corrupted later; it cannot tell whether the first download was the right file.
- Several processes may fetch at once: each target file is downloaded (and unpacked) under an exclusive ``fcntl``
  lock of its own (`brainfm_lite.fetch.locks`), and the lock file is updated read-modify-write under a lock of the
  dataset's folder, then replaced atomically, so no process loses another's line or writes into another's ``.part``.
- An archive is unpacked safely (`brainfm_lite.fetch.archives`) into its ``extract_to`` folder once, and kept so
  that it can be verified again.
- fastMRI is licence-gated: `prepare_fastmri` checks the ``.h5`` files the user downloaded and links them, with an
  ``index.json``, into ``<data_dir>/fastmri_brain/``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import h5py

from brainfm_lite.atomic import atomic_path, write_json
from brainfm_lite.errors import ChecksumError, InputError
from brainfm_lite.fetch.archives import extract
from brainfm_lite.fetch.checksums import Checksum
from brainfm_lite.fetch.download import check_url, download_locked, prepare_dest

# fetch() and prepare_fastmri() take an argument named ``data_dir``, which hides the function inside them.
from brainfm_lite.fetch.download import data_dir as _resolve_data_dir
from brainfm_lite.fetch.locks import exclusive_lock, lock_path
from brainfm_lite.fetch.registry import Dataset, DatasetFile, get_dataset

LOCK_FILENAME = "CHECKSUMS.sha256"
FASTMRI_FOLDER = "fastmri_brain"
FASTMRI_INDEX = "index.json"

_log = logging.getLogger(__name__)


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

    Every file is checked against its registered digest (``sha256:`` or ``md5:``), or else against the sha256 in
    the lock file ``<data_dir>/<name>/CHECKSUMS.sha256``. A file with neither is refused before any byte is
    downloaded, unless ``allow_unpinned=True``: trust on first use, where the first download is accepted as it is
    and its sha256 is recorded in the lock file, so that any later change to the file is caught. A present file
    with no digest to check is not adopted: it is downloaded afresh before its hash is recorded. Archives are
    unpacked into their ``extract_to`` folder once; the archive itself is kept so it can be verified again. Several
    processes may fetch the same dataset at once (see the module docstring: one lock per file, one for the lock
    file).

    Args:
        name: a key of `brainfm_lite.fetch.registry.DATASETS`.
        data_dir: data directory; see `data_dir`.
        allow_unpinned: accept files that have no published digest (trust on first use, see above).
        files: fetch only these filenames of the dataset (default: all).
        progress: show tqdm progress bars.

    Returns:
        The dataset's folder.

    Raises:
        InputError: unknown dataset or filename; a manual (licence-gated) dataset, the message saying how to get it;
            an unpinned file without ``allow_unpinned``; a damaged lock file (a folder, unreadable, not UTF-8, a bad
            line); a damaged or encrypted archive.
        ChecksumError: a download does not match its pinned digest or locked sha256 (a present file that does not
            match is downloaded again first).
        DownloadError: a network failure; run again to resume.
    """
    dataset = get_dataset(name)
    if dataset.access == "manual":
        raise InputError(f"{dataset.title} cannot be downloaded automatically.\n{dataset.instructions}")
    chosen = _select_files(dataset, files)
    folder = _resolve_data_dir(data_dir) / dataset.name
    locked = _read_lock(folder)
    unpinned = [item.filename for item in chosen if item.checksum is None and item.filename not in locked]
    if unpinned and not allow_unpinned:
        raise InputError(
            f"{dataset.name}: no published checksum for {', '.join(unpinned)}. Pass allow_unpinned=True "
            f"(CLI: --allow-unpinned) to trust the first download; its sha256 is then recorded in "
            f"{folder / LOCK_FILENAME} and every later fetch is checked against it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    for item in chosen:
        _fetch_file(item, folder, progress=progress)
    return folder


def _fetch_file(item: DatasetFile, folder: Path, *, progress: bool) -> None:
    """Download, verify, record (trust on first use) and unpack one file, holding that file's lock throughout."""
    check_url(item.url)
    dest = prepare_dest(folder / item.filename)
    with exclusive_lock(lock_path(dest), str(dest)):
        # Read under the lock: a fetch that held it just before us may have recorded this file.
        locked = _read_lock(folder).get(item.filename)
        expected = item.checksum or (Checksum("sha256", locked) if locked else None)
        try:
            path, sha256 = download_locked(
                item.url, dest, checksum=expected, size_bytes=item.size_bytes, want_sha256=expected is None,
                progress=progress,
            )
        except ChecksumError as error:
            if item.checksum is None and locked is not None:  # the hash came from our own lock file
                raise ChecksumError(
                    f"{error}. The file differs from the one trusted on first use (see {folder / LOCK_FILENAME}). "
                    f"If the provider published a new version on purpose, delete its line there and fetch again "
                    f"with allow_unpinned=True (CLI: --allow-unpinned): it is then downloaded afresh and trusted."
                ) from error
            raise
        if expected is None:  # trust on first use: the sha256 comes from the pass that received the file
            _record_hash(folder, item.filename, sha256)
        if item.extract_to and not (folder / item.extract_to).exists():
            extract(path, folder / item.extract_to)


def _record_hash(folder: Path, filename: str, digest: str) -> None:
    """Add ``filename``'s sha256 to the lock file: read, modify and replace it under the folder's lock."""
    lock = folder / LOCK_FILENAME
    with exclusive_lock(lock_path(lock), str(lock)):
        hashes = _read_lock(folder)
        if filename in hashes and hashes[filename] != digest:
            raise ChecksumError(
                f"{filename}: another fetch recorded sha256 {hashes[filename]} in {lock} while this one downloaded "
                f"{digest}; the file changed upstream in between. Run the fetch again to check it"
            )
        hashes[filename] = digest
        _write_lock(folder, hashes)
    _log.warning("Trust on first use: %s has no published checksum; recorded sha256 %s in %s", filename, digest, lock)


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
    for number, line in enumerate(_read_lock_text(lock).splitlines(), start=1):
        if not line.strip():
            continue
        digest, _, filename = line.partition("  ")
        if len(digest) != 64 or not filename or any(c not in "0123456789abcdef" for c in digest):
            raise InputError(f"{lock}, line {number}: expected '<64 hex digits>  <filename>', got {line!r}")
        hashes[filename] = digest
    return hashes


def _read_lock_text(lock: Path) -> str:
    """The lock file's text; `InputError` naming the file if it is a folder, unreadable or not UTF-8."""
    advice = "restore it from a backup, or delete it to trust the next download of each unpinned file again"
    if lock.is_dir():
        raise InputError(f"Lock file {lock} is a folder, not a file; remove it (it holds no checksums)")
    try:
        return lock.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise InputError(f"Lock file {lock} is not UTF-8 text (byte {error.start}): it is damaged; {advice}") from error
    except OSError as error:
        message = f"Cannot read the lock file {lock} ({error.strerror}); fix its permissions, or {advice}"
        raise InputError(message) from error


def _write_lock(folder: Path, hashes: dict[str, str]) -> None:
    """Write the lock file atomically, sorted, in the format ``sha256sum -c`` reads."""
    with atomic_path(folder / LOCK_FILENAME) as temporary:
        temporary.write_text("".join(f"{hashes[name]}  {name}\n" for name in sorted(hashes)), encoding="utf-8")


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
    folder = _resolve_data_dir(data_dir) / FASTMRI_FOLDER
    index_path = folder / FASTMRI_INDEX
    index = _read_fastmri_index(index_path)  # before anything is linked: a bad index must change nothing

    folder.mkdir(parents=True, exist_ok=True)
    for source in sources:
        _link_or_copy(source, folder / source.name)
    index.update({entry["file"]: entry for entry in entries})
    write_json(index_path, [index[name] for name in sorted(index)])
    return folder


def _read_fastmri_index(path: Path) -> dict[str, dict]:
    """The existing ``index.json`` as {file name: entry}; empty if absent, `InputError` if it is damaged."""
    if not path.exists():
        return {}
    advice = "delete it and run prepare-fastmri again on every folder of .h5 files you prepared before"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: bad JSON or not UTF-8
        raise InputError(f"{path} is not a readable JSON index ({error}); nothing was linked; {advice}") from error
    if not isinstance(entries, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("file"), str) for entry in entries
    ):
        raise InputError(
            f"{path} is not a list of {{'file', 'shape', 'contrast'}} entries; nothing was linked; {advice}"
        )
    return {entry["file"]: entry for entry in entries}


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
