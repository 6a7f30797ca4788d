"""How much memory a reader may ask for, so that a damaged or hostile header is refused before the allocation.

The limit is the memory the machine has available now, lowered by a cap: the ``max_bytes`` argument of the
reader, else the environment variable ``BRAINFM_MAX_MEMORY_GB`` (a number of GiB), else none.

Example:
    >>> check_memory(4 * GIB, "brain.nii.gz: its voxels")            # doctest: +SKIP
    InputError: brain.nii.gz: its voxels need 4.0 GiB of memory, more than the 1.5 GiB available now
"""

from __future__ import annotations

import math
import os

from brainfm_lite.errors import InputError

GIB = 2**30
CAP_VARIABLE = "BRAINFM_MAX_MEMORY_GB"


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation without swapping (Linux ``MemAvailable``), or None if unknown."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def memory_cap(max_bytes: int | None = None) -> int | None:
    """The configured cap in bytes: `max_bytes`, else ``BRAINFM_MAX_MEMORY_GB``, else None (no cap).

    Raises:
        InputError: `max_bytes` or the variable is not a positive number.
    """
    if max_bytes is not None:
        if isinstance(max_bytes, bool) or not isinstance(max_bytes, (int, float)) or not max_bytes > 0:
            raise InputError(f"max_bytes must be a positive number of bytes, got {max_bytes!r}")
        return int(max_bytes)
    text = os.environ.get(CAP_VARIABLE, "").strip()
    if not text:
        return None
    try:
        gib = float(text)
    except ValueError:
        gib = math.nan
    if not (math.isfinite(gib) and gib > 0):
        raise InputError(f"environment variable {CAP_VARIABLE}={text!r}: must be a positive number of GiB")
    return int(gib * GIB)


def check_memory(needed: int, what: str, *, max_bytes: int | None = None, damaged: str = "the header") -> None:
    """Raise InputError when `needed` bytes exceed the cap or the memory available now.

    Args:
        needed: bytes the caller is about to allocate.
        what: the start of the message, naming the file (e.g. ``"brain.nii.gz: its voxels"``).
        max_bytes: a cap for this call (default: ``BRAINFM_MAX_MEMORY_GB``, else none).
        damaged: what, in the file, would be damaged if the size is absurd (for the message).
    """
    cap = memory_cap(max_bytes)
    if cap is not None and needed > cap:
        source = "max_bytes" if max_bytes is not None else CAP_VARIABLE
        raise InputError(f"{what} need {format_bytes(needed)} of memory, more than the cap of {format_bytes(cap)} "
                         f"({source}); {damaged} is probably damaged, or raise the cap")
    available = available_memory()
    if available is not None and needed > available:
        raise InputError(f"{what} need {format_bytes(needed)} of memory, more than the {format_bytes(available)} "
                         f"available now; {damaged} is probably damaged, or free some memory")


def format_bytes(n: int | float) -> str:
    """``1.5 GiB``, ``12.0 MiB``, ``3.0 TiB``: a byte count for messages."""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
