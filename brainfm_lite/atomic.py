"""Atomic file writing: a reader never sees a half-written output under its final name."""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `dest`; on success it is renamed onto `dest`, on any error removed.

    The temporary file keeps the destination's suffixes (``.nii.gz``, ``.json`` ...) so that writers which pick a
    format from the name behave as they would with `dest`. The rename is atomic on POSIX (same directory).

    Example:
        >>> with atomic_path("out.json") as tmp:       # doctest: +SKIP
        ...     tmp.write_text("{}")
    """
    dest = Path(dest)
    suffix = "".join(dest.suffixes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.tmp-", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
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
