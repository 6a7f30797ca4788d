"""Exclusive ``fcntl`` file locks, so that processes fetching the same file at the same time take turns.

The lock that guards a path is a hidden file beside it (`lock_path`); `exclusive_lock` holds it for a ``with`` block
and removes it on release, so nothing is left behind. Without ``fcntl`` (Windows) there is no lock.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

try:
    import fcntl
except ImportError:  # Windows: downloads run without locks
    fcntl = None

_log = logging.getLogger(__name__)


@contextmanager
def exclusive_lock(lock_file: Path, what: str) -> Iterator[None]:
    """Hold an exclusive ``fcntl`` lock on ``lock_file`` (created if needed) for the ``with`` block.

    The lock file is removed on release, so nothing is left behind. A waiter may have opened the file just before
    it was removed: after taking the lock it checks that its file is still the one under that name, else it locks
    the new one. Without ``fcntl`` (Windows) there is no lock.

    Args:
        lock_file: the lock file (see `lock_path`); its folder must exist.
        what: what is locked, for the message logged while waiting.
    """
    if fcntl is None:
        yield
        return
    while True:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _flock(fd, what)
            if _is_current(fd, lock_file):
                break
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)  # the previous holder removed this file: lock the one under the name now
    try:
        yield
    finally:
        lock_file.unlink(missing_ok=True)  # while locked: nobody else holds this file yet
        os.close(fd)


def _flock(fd: int, what: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        _log.info("Waiting for another process that is fetching %s", what)
        fcntl.flock(fd, fcntl.LOCK_EX)


def _is_current(fd: int, lock_file: Path) -> bool:
    """True if the open file ``fd`` is still the file named ``lock_file``."""
    try:
        return os.path.samestat(os.fstat(fd), os.stat(lock_file))
    except FileNotFoundError:
        return False


def lock_path(path: Path) -> Path:
    """The hidden lock file that guards ``path``: ``.<name>.lock`` beside it."""
    return path.with_name(f".{path.name}.lock")
