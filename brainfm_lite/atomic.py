"""Atomic writing: a reader never sees a half-written file or folder under its final name."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed onto `dest`, on any error removed.

    The body creates the file at the yielded path (it does not exist yet, so the file gets the usual permissions).
    The temporary name keeps the destination's suffixes (``.nii.gz``, ``.npz`` ...) so that writers which pick a
    format from the name behave as they would with `dest`. The rename is atomic on POSIX (same directory): a crash
    at any point leaves the previous `dest` as it was, and an error (KeyboardInterrupt included) removes the
    temporary file.

    Example:
        >>> with atomic_path("out.json") as tmp:       # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-{secrets.token_hex(8)}{''.join(dest.suffixes)}")
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """Yield a new empty folder beside `dest`; on success it replaces `dest`, on any error it is removed.

    A previous `dest` is renamed aside, the new folder renamed onto `dest`, then the old one deleted: a crash while
    the body runs leaves the previous `dest` untouched, and a reader never finds a half-filled folder under `dest`.

    Example:
        >>> with atomic_dir("model") as tmp:           # doctest: +SKIP
        ...     (tmp / "config.json").write_text("{}")
    """
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.tmp-{secrets.token_hex(8)}")
    tmp.mkdir()
    try:
        yield tmp
        if dest.exists():
            old = dest.with_name(f".{dest.name}.old-{secrets.token_hex(8)}")
            os.replace(dest, old)
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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
