"""Published digests that pin a file: ``"sha256:<hex>"`` or ``"md5:<hex>"``, parsed, checked and computed.

A provider publishes a digest so that a download can be checked against it. ``sha256`` is the strong choice: no one
can make another file with the same digest. ``md5`` is accepted because some providers publish nothing else (TorchIO
lists MD5 sums for the IXI archives): MD5 is broken against an attacker, who can make two files with one digest, but
a corrupted, truncated or changed download still gives another MD5, which is what a pin is for here.

Every digest a check needs is computed in one pass over the file (`file_digests`), so a multi-GB archive is read once.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from brainfm_lite.errors import InputError

#: The algorithms a pin may name, with the number of hex digits of their digest.
ALGORITHMS: dict[str, int] = {"sha256": 64, "md5": 32}

_HEX_DIGITS = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class Checksum:
    """A digest of a file's bytes: the algorithm (a key of `ALGORITHMS`) and its lower-case hex value.

    ``str(checksum)`` gives the written form ``"<algorithm>:<hex>"``, which `parse` reads back.
    """

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        _check(self.algorithm, self.hex, f"{self.algorithm}:{self.hex}", what="checksum")

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str, *, what: str = "checksum") -> Checksum:
        """Read ``"<algorithm>:<hex>"`` (e.g. ``"md5:34901a05..."``); upper-case hex digits are accepted.

        Args:
            text: the written pin.
            what: what the pin belongs to, for the error message (e.g. ``"ixi file IXI-T1.tar"``).

        Raises:
            InputError: not a string, no ``algorithm:`` prefix, an algorithm other than those of `ALGORITHMS`, or
                a hex value of the wrong length or with a character that is not a hex digit.
        """
        if not isinstance(text, str):
            raise InputError(f"{what}: the checksum must be a string '<algorithm>:<hex>', got {text!r}")
        algorithm, colon, digest = text.strip().partition(":")
        if not colon:
            raise InputError(
                f"{what}: checksum {text!r} names no algorithm; write it as 'sha256:<hex>' or 'md5:<hex>'"
            )
        algorithm, digest = algorithm.strip().lower(), digest.strip().lower()
        _check(algorithm, digest, text, what=what)
        return cls(algorithm, digest)


def _check(algorithm: str, digest: str, text: str, *, what: str) -> None:
    """`InputError` for an unknown algorithm or a hex value that cannot be one of its digests."""
    if algorithm not in ALGORITHMS:
        known = ", ".join(ALGORITHMS)
        raise InputError(f"{what}: checksum {text!r} uses the unknown algorithm {algorithm!r}; known: {known}")
    length = ALGORITHMS[algorithm]
    if not isinstance(digest, str) or len(digest) != length or not set(digest) <= _HEX_DIGITS:
        raise InputError(
            f"{what}: checksum {text!r} is malformed; a {algorithm} digest is {length} lower-case hex digits"
        )


def file_digests(path: str | os.PathLike, algorithms, chunk_size: int = 1 << 20) -> dict[str, str]:
    """Hex digests of a file under each of ``algorithms``, from one pass over it (constant memory for any size).

    Args:
        path: the file.
        algorithms: names from `ALGORITHMS` (any iterable; repeats are computed once).
        chunk_size: bytes read at a time.

    Returns:
        {algorithm: lower-case hex digest}.
    """
    # usedforsecurity=False: a FIPS-restricted OpenSSL still computes md5 for an integrity check.
    hashers = {name: hashlib.new(name, usedforsecurity=False) for name in dict.fromkeys(algorithms)}
    with open(path, "rb") as stream:
        while chunk := stream.read(chunk_size):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {name: hasher.hexdigest() for name, hasher in hashers.items()}


def sha256_of(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex sha256 digest of a file, read in chunks of ``chunk_size`` bytes (constant memory for any size)."""
    return file_digests(path, ("sha256",), chunk_size)["sha256"]
