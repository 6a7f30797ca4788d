"""Atomic writing: a reader never sees a half-written file or folder under its final name.

Temporaries live beside the destination, hidden, and name the process that made them::

    .brain.nii.gz.tmp-<host>-<pid>-<token>.nii.gz      a file or folder being written
    .model.old-<host>-<pid>-<token>                    a replaced folder, before it is deleted

A crash (kill -9, power loss) can leave one behind; the next write to the same destination removes those whose
process is gone, so they never accumulate.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

# A short tag of this machine, so that a process id is only judged on the machine it belongs to.
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:4]
# Temporaries of another machine, or from before temporaries named their process, count as abandoned after this.
ABANDONED_AFTER_S = 24 * 3600
_LEFTOVER = re.compile(r"(tmp|old)-(?:([0-9a-f]{4})-(\d+)-)?[0-9a-f]+")  # after ".{dest name}."


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed onto `dest`, on any error removed.

    The body creates the file at the yielded path (it does not exist yet, so the file gets the usual permissions).
    The temporary name keeps the destination's suffixes (``.nii.gz``, ``.npz`` ...) so that writers which pick a
    format from the name behave as they would with `dest`. The rename is atomic on POSIX (same directory): a crash
    at any point leaves the previous `dest` as it was, and an error (KeyboardInterrupt included) removes the
    temporary file. Temporaries left by crashed writers of `dest` are removed first.

    Example:
        >>> with atomic_path("out.json") as tmp:       # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    dest = Path(dest)
    remove_leftovers(dest)
    tmp = _temporary(dest, "tmp", "".join(dest.suffixes))
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside `dest`; on success it replaces `dest`, on any error it is removed.

    A previous `dest` is swapped with the new folder in one step (Linux ``renameat2(RENAME_EXCHANGE)``), so at
    every moment `dest` is either the complete old folder or the complete new one, then the old one is deleted.
    Where the swap is not available (another OS or file system) the old folder is renamed aside first; a crash in
    that instant leaves it aside, and the next write to `dest` puts it back. Leftovers of crashed writers of `dest`
    are removed first.

    Example:
        >>> with atomic_dir("model") as tmp:           # doctest: +SKIP
        ...     (tmp / "config.json").write_text("{}")
    """
    dest = Path(dest)
    remove_leftovers(dest)
    tmp = _temporary(dest, "tmp")
    tmp.mkdir()
    try:
        yield tmp
        if not dest.exists():
            os.replace(tmp, dest)
        elif _exchange(tmp, dest):
            shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
        else:
            old = _temporary(dest, "old")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def remove_leftovers(dest: str | Path) -> list[Path]:
    """Remove the temporaries that crashed writers of `dest` left beside it; returns what was removed.

    A temporary counts as abandoned when its process no longer runs on this machine (or, for another machine's
    and unnamed ones, after `ABANDONED_AFTER_S`), so a write in progress elsewhere is never disturbed. When `dest`
    is missing but a crash left the folder it held renamed aside, that folder is put back instead of removed.
    """
    dest = Path(dest)
    prefix = f".{dest.name}."
    try:
        entries = [entry for entry in os.scandir(dest.parent) if entry.name.startswith(prefix)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        match = _LEFTOVER.match(entry.name, len(prefix))
        if match is None or not _abandoned(Path(entry.path), match.group(2), match.group(3)):
            continue
        path = Path(entry.path)
        if match.group(1) == "old" and not dest.exists():
            os.replace(path, dest)  # a crash between the two renames of the fallback: the old folder comes back
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


def _temporary(dest: Path, kind: str, suffix: str = "") -> Path:
    return dest.with_name(f".{dest.name}.{kind}-{_HOST}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def _abandoned(path: Path, host: str | None, pid: str | None) -> bool:
    """True when the writer of the temporary `path` is gone."""
    if host == _HOST and pid is not None and os.name == "posix":
        return int(pid) != os.getpid() and not _running(int(pid))
    try:
        return time.time() - path.lstat().st_mtime > ABANDONED_AFTER_S
    except OSError:
        return False


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.lru_cache(maxsize=1)
def _renameat2():
    """The C library's ``renameat2`` on Linux (glibc 2.28 or later), else None."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def _exchange(a: Path, b: Path) -> bool:
    """Swap the paths `a` and `b` in one atomic step; False where the system cannot (nothing was changed)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP):  # file system without exchange
        return False
    raise OSError(code, os.strerror(code), str(b))


def write_json(path: str | Path, obj) -> Path:
    """Write `obj` as indented JSON to `path` atomically; returns the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_to_builtin) + "\n")
    return path


def _to_builtin(value):
    """JSON fallback for numpy scalars/arrays and paths."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
