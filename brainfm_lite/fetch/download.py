"""Find the data directory; download one file over http(s), resuming an interrupted download and verifying it.

Nothing runs at import time; only an explicit call downloads. The rules, each one covered by a test:

- Data directory: the ``path`` argument, else the ``BRAINFM_DATA`` environment variable, else ``~/brainfm_data``.
  Dataset ``NAME`` lives in ``<data_dir>/NAME/``.
- Only ``http://`` and ``https://`` URLs are fetched; ``file://`` and every other scheme is refused.
- A download goes to ``<file>.part`` and is renamed onto ``<file>`` only after its size and its pinned digest
  (``sha256:<hex>`` or ``md5:<hex>``, `brainfm_lite.fetch.checksums`) check out, so a file under its final name is
  complete and verified. Every digest needed is computed in one pass over the ``.part``.
- Resume, as ``curl -C -`` does it but only when the server proves the file is the same: the server's ``ETag`` (or
  ``Last-Modified``) is recorded beside the ``.part`` in ``<file>.part.json``, and an interrupted download resumes
  with ``Range`` plus ``If-Range`` carrying that validator. A server that answers with the whole file (200), or with
  a range of another version, or a ``.part`` with no recorded validator, makes the download start over. So a resumed
  file is never spliced from two versions, and no hash of such a splice is ever recorded.
- A checksum mismatch deletes the ``.part`` (so a retry starts clean) and raises `ChecksumError`.
- A file already present is kept only if it has the pinned digest. With no digest to check it against, it is
  downloaded again (as pip's hash-checking mode never trusts an unverified file) and replaced once the new copy is
  complete.
- Each target file is downloaded under an exclusive lock of its own (`brainfm_lite.fetch.locks`), so processes that
  download the same file take turns and none writes into another's ``.part``.

Fetching a whole registered dataset (checksums recorded on first use, archives unpacked) is
`brainfm_lite.fetch.dataset_files`, built on `check_url`, `prepare_dest` and `download_locked` from here.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from tqdm.auto import tqdm

from brainfm_lite.atomic import write_json
from brainfm_lite.errors import ChecksumError, DownloadError, InputError
from brainfm_lite.fetch.checksums import Checksum, file_digests
from brainfm_lite.fetch.checksums import sha256_of as sha256_of  # kept importable from here, where it used to live
from brainfm_lite.fetch.locks import exclusive_lock, lock_path

_USER_AGENT = "brainfm-lite"  # some servers refuse urllib's default agent
_log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------------------------
# Data directory


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


# ----------------------------------------------------------------------------------------------------------------
# Download


def download(
    url: str,
    dest: str | os.PathLike,
    *,
    checksum: str | Checksum | None = None,
    sha256: str | None = None,
    size_bytes: int | None = None,
    chunk_size: int = 1 << 20,
    timeout: float = 60,
    progress: bool = True,
) -> Path:
    """Download ``url`` to ``dest``, resuming a partial download and verifying the result before it gets its name.

    The download holds an exclusive lock on ``dest`` (``.<name>.lock`` beside it), so two processes downloading
    the same file take turns: the second finds the file the first one verified.

    Args:
        url: http(s) address; ``file://`` and other schemes are refused.
        dest: final path of the file. Bytes arrive in ``dest + ".part"`` first; the server's validator (ETag or
            Last-Modified) is kept in ``dest + ".part.json"`` so that a resume can prove it continues the same file.
        checksum: the published digest, ``"sha256:<hex>"`` or ``"md5:<hex>"`` (or a `Checksum`). None, with no
            ``sha256`` either, skips the content check (the size is still checked when known).
        sha256: shorthand for ``checksum="sha256:<hex>"``: the expected hex sha256. Give one of the two, not both.
        size_bytes: expected size in bytes; None uses the size the server announces, if any.
        chunk_size: bytes read and written at a time.
        timeout: seconds to wait for the server before giving up on a connection or a read.
        progress: show a tqdm progress bar.

    Returns:
        ``dest`` as a Path. If ``dest`` already exists with the expected digest, nothing is downloaded. Without a
        digest a present file cannot be verified, so it is downloaded again and replaced.

    Raises:
        InputError: ``url`` is not an http(s) URL, ``dest`` is a folder, or the checksum is malformed, names an
            unknown algorithm, or is given twice (``checksum`` and ``sha256``).
        ChecksumError: the downloaded bytes do not match the digest or are longer than expected. The ``.part`` is
            deleted so that the next call starts from zero; nothing is written under ``dest``.
        DownloadError: network or HTTP failure, or the server closed the connection early. The ``.part`` is kept
            so that the next call resumes.
    """
    pin = _pin(checksum, sha256, what=str(dest))
    check_url(url)
    dest = prepare_dest(Path(dest))
    with exclusive_lock(lock_path(dest), str(dest)):
        path, _ = download_locked(
            url, dest, checksum=pin, size_bytes=size_bytes, chunk_size=chunk_size, timeout=timeout,
            progress=progress,
        )
    return path


def _pin(checksum: str | Checksum | None, sha256: str | None, *, what: str) -> Checksum | None:
    """The one digest `download` checks, from its ``checksum`` or ``sha256`` argument."""
    if checksum is not None and sha256 is not None:
        raise InputError(f"{what}: give checksum or sha256, not both")
    if sha256 is not None:
        return Checksum.parse(f"sha256:{sha256}", what=what)
    if checksum is None or isinstance(checksum, Checksum):
        return checksum
    return Checksum.parse(checksum, what=what)


def check_url(url: str) -> None:
    """Refuse anything but an http(s) URL with a host (the docstrings promise http(s); file:// reads local files)."""
    try:
        parts = urllib.parse.urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except (TypeError, ValueError, AttributeError):  # not a string, or a malformed address such as "http://[::1"
        valid = False
    if not valid:
        raise InputError(f"{url!r} is not an http:// or https:// URL; only those are downloaded")


def prepare_dest(dest: Path) -> Path:
    """Refuse a ``dest`` that is a folder or lies under a file; create its parent folders."""
    if dest.is_dir():
        raise InputError(f"Cannot download to {dest}: it is a folder; give the path of the file to write")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise InputError(f"Cannot download to {dest}: {error.filename} is a file, not a folder") from error
    return dest


def download_locked(
    url: str, dest: Path, *, checksum: Checksum | None, size_bytes: int | None, want_sha256: bool = False,
    chunk_size: int = 1 << 20, timeout: float = 60, progress: bool = True,
) -> tuple[Path, str | None]:
    """`download` for a caller that holds the lock of ``dest`` (`brainfm_lite.fetch.locks`) and has checked ``url``
    and ``dest`` with `check_url` and `prepare_dest`.

    Returns:
        (``dest``, its hex sha256 or None). The sha256 is returned when ``want_sha256`` is set or ``checksum`` is a
        sha256; it comes from the same pass over the file that checks ``checksum`` (trust on first use records it).
    """
    algorithms = _algorithms(checksum, want_sha256)
    if dest.exists():
        if checksum is not None:
            digests = file_digests(dest, algorithms, chunk_size)
            if digests[checksum.algorithm] == checksum.hex:
                _log.info("%s is present and its %s matches; not downloading it again", dest, checksum.algorithm)
                return dest, digests.get("sha256")
        reason = f"its {checksum.algorithm} does not match" if checksum else "there is no checksum to verify it"
        _log.warning("%s is present but %s; downloading it again", dest, reason)
    part = dest.with_name(dest.name + ".part")
    announced_size = _receive(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)
    expected_size = size_bytes if size_bytes is not None else announced_size
    digests = _verify_part(
        part, dest, url=url, checksum=checksum, algorithms=algorithms, expected_size=expected_size,
        chunk_size=chunk_size,
    )
    os.replace(part, dest)
    _sidecar(part).unlink(missing_ok=True)
    return dest, digests.get("sha256")


def _algorithms(checksum: Checksum | None, want_sha256: bool) -> list[str]:
    """The digests to compute: the pinned one, and sha256 when the caller wants it."""
    names = [checksum.algorithm] if checksum is not None else []
    return (names + ["sha256"]) if want_sha256 and "sha256" not in names else names


def _receive(url: str, part: Path, *, chunk_size: int, timeout: float, progress: bool) -> int | None:
    """Append the bytes missing from ``part`` (all if it is absent); return the full size the server announced.

    A resume asks for the rest with ``Range`` and ``If-Range: <validator>``; anything but a 206 answer of the same
    version (same validator, starting at our offset) restarts from zero.
    """
    validator = _resume_validator(part, url)
    if validator is None:
        _discard_part(part)  # no proof of which version these bytes belong to: never resume them
    offset = part.stat().st_size if validator else 0
    headers = {"User-Agent": _USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        headers["If-Range"] = validator[1]
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:
            # "Range not satisfiable": the .part may already hold every byte of this version.
            if _same_version(error.headers, validator):
                return _full_size(error.headers.get("Content-Range"))
            return _start_over(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)
        raise DownloadError(f"Could not download {url}: HTTP {error.code} {error.reason}") from error
    except OSError as error:  # URLError, refused connection, timeout
        raise DownloadError(f"Could not download {url}: {error}") from error

    with response:
        if offset and response.status == 206:
            same_range = _range_start(response.headers.get("Content-Range")) == offset
            if not (same_range and _same_version(response.headers, validator)):
                # Another range, or a server that ignored If-Range and sent part of a new version.
                response.close()
                return _start_over(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)
            total, mode = _full_size(response.headers.get("Content-Range")), "ab"
        else:
            # A 200 answer carries the whole file, also when we asked for a range (a new version, or no Range
            # support). Record its validator before the first byte, so that an interruption can resume.
            length = response.headers.get("Content-Length")
            offset, total, mode = 0, int(length) if length else None, "wb"
            _write_sidecar(part, url, response.headers)
        _copy_body(response, part, url=url, mode=mode, offset=offset, total=total, chunk_size=chunk_size,
                   progress=progress)
    return total


def _start_over(url: str, part: Path, *, chunk_size: int, timeout: float, progress: bool) -> int | None:
    """Drop the ``.part`` and download the whole file (without a ``.part`` there is no Range: no loop)."""
    _log.info("%s: the server did not confirm the same version; downloading from the start", url)
    _discard_part(part)
    return _receive(url, part, chunk_size=chunk_size, timeout=timeout, progress=progress)


def _copy_body(
    response, part: Path, *, url: str, mode: str, offset: int, total: int | None, chunk_size: int, progress: bool
) -> None:
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


def _sidecar(part: Path) -> Path:
    """The JSON file beside a ``.part`` that records which version of which URL its bytes come from."""
    return part.with_name(part.name + ".json")


def _write_sidecar(part: Path, url: str, headers) -> None:
    write_json(_sidecar(part), {"url": url, "etag": headers.get("ETag"), "last_modified": headers.get("Last-Modified")})


def _resume_validator(part: Path, url: str) -> tuple[str, str] | None:
    """("ETag" or "Last-Modified", value) recorded for ``part`` by a download of ``url``; None if it cannot resume.

    A weak ETag (``W/...``) does not promise identical bytes, so it is no proof for a byte range (RFC 9110 If-Range).
    """
    if not part.exists():
        return None
    try:
        record = json.loads(_sidecar(part).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # absent, unreadable or damaged: our own scratch file, so just start over
        return None
    if not isinstance(record, dict) or record.get("url") != url:
        return None
    etag, last_modified = record.get("etag"), record.get("last_modified")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return "ETag", etag
    if isinstance(last_modified, str) and last_modified:
        return "Last-Modified", last_modified
    return None


def _same_version(headers, validator: tuple[str, str]) -> bool:
    """True if a response carries the validator recorded for the ``.part`` (a missing one proves nothing)."""
    name, value = validator
    return headers is not None and headers.get(name) == value


def _discard_part(part: Path) -> None:
    """Delete a ``.part`` and its sidecar, so that the next download starts from zero."""
    part.unlink(missing_ok=True)
    _sidecar(part).unlink(missing_ok=True)


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
    part: Path, dest: Path, *, url: str, checksum: Checksum | None, algorithms: list[str],
    expected_size: int | None, chunk_size: int,
) -> dict[str, str]:
    """Check the size and pinned digest of a finished ``.part``; delete it if its bytes are wrong.

    Returns:
        {algorithm: hex digest} for each of ``algorithms`` (the pinned one among them), from one pass over the file.
    """
    size = part.stat().st_size
    if expected_size is not None and size < expected_size:
        raise DownloadError(
            f"Download of {url} stopped after {size} of {expected_size} bytes; {part} is kept: run again to resume"
        )
    if expected_size is not None and size > expected_size:
        _discard_part(part)
        raise ChecksumError(
            f"{dest.name}: downloaded {size} bytes but expected {expected_size}; the partial file was deleted"
        )
    digests = file_digests(part, algorithms, chunk_size) if algorithms else {}
    if checksum is not None and digests[checksum.algorithm] != checksum.hex:
        _discard_part(part)
        raise ChecksumError(
            f"{dest.name}: {checksum.algorithm} {digests[checksum.algorithm]} does not match the expected "
            f"{checksum.hex}; the download was deleted and nothing was written to {dest}"
        )
    return digests
