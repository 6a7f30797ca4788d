"""Safe extraction of tar (plain, gz, bz2, xz) and zip archives into a new folder.

Archives are checked member by member before anything is written: no absolute path, no ``..``, no link pointing
outside the target or through another link, no device or pipe, no encrypted zip member. Tar archives are unpacked
with tarfile's ``data`` filter. They unpack into a hidden temporary folder beside the target that is renamed into
place at the end, so an interrupted extraction never leaves a half-filled folder under the final name; a damaged or
truncated archive raises `InputError` and leaves nothing. Each rule is covered by a test.
"""

from __future__ import annotations

import lzma
import os
import posixpath
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath

from brainfm_lite.atomic import atomic_dir
from brainfm_lite.errors import InputError


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
        InputError: ``target`` exists; the file is not a tar or zip archive; the archive is damaged or truncated
            (bad CRC, early end) or encrypted; or a member is unsafe (absolute path, ``..``, a link pointing outside
            ``target`` or through another link, a device, pipe or zip symlink). Nothing is left under ``target``.
    """
    archive, target = Path(archive), Path(target)
    if target.exists():
        raise InputError(f"Cannot extract {archive} into {target}: that folder already exists")
    with open(archive, "rb") as stream:
        is_zip = stream.read(4) == b"PK\x03\x04"
    try:
        if is_zip:
            _extract_zip(archive, target)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive, "r:*") as tarred:
                _check_tar_members(tarred, archive)
                _unpack_into(target, lambda folder: _extract_tar(tarred, folder))
        else:
            raise InputError(f"{archive} is neither a tar nor a zip archive (or it is too damaged to tell)")
    except _DAMAGED_ARCHIVE as error:
        raise _damaged(archive, error) from error
    except OSError as error:
        if error.errno is not None:  # a real I/O error (disk full, permission): not the archive's fault
            raise
        raise _damaged(archive, error) from error  # gzip/bz2 decoders raise OSError without errno
    return sorted(path for path in target.rglob("*") if path.is_file())


# What zipfile, tarfile and the decompressors raise for a corrupt or truncated archive.
_DAMAGED_ARCHIVE = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)


def _damaged(archive: Path, error: BaseException) -> InputError:
    return InputError(
        f"Cannot unpack {archive}: it is damaged or truncated ({type(error).__name__}: {error}). Nothing was "
        f"extracted; delete the archive and fetch it again"
    )


def _extract_zip(archive: Path, target: Path) -> None:
    with zipfile.ZipFile(archive) as zipped:
        _check_zip_members(zipped, archive)
        _unpack_into(target, zipped.extractall)  # zipfile checks each member's CRC-32 as it writes it


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
        for member in tarred.getmembers():  # what the filter would do to modes: no setuid/sticky, no shared write
            member.mode &= 0o755
        tarred.extractall(folder)
    # Read to the end of a compressed stream: gzip, bz2 and xz check their CRC only there.
    while tarred.fileobj.read(1 << 20):
        pass


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
        if info.flag_bits & 0x1:  # general purpose bit 0: the member is encrypted
            raise InputError(
                f"{archive}: member {info.filename!r} is encrypted; password-protected archives are not supported"
            )
        unix_mode = info.external_attr >> 16
        # zipfile would write a symlink entry as a small text file, silently changing the dataset.
        if (unix_mode & 0o170000) == 0o120000:
            raise InputError(f"{archive}: member {info.filename!r} is a symbolic link; refusing to extract")
