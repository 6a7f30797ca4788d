"""The ISMRMRD header of a fastMRI file: the encoded and reconstructed matrix sizes and fields of view.

A fastMRI ``.h5`` keeps the scanner's ISMRMRD XML header as the byte string ``ismrmrd_header``. Of it, the
reconstruction needs the first ``encoding``:

- ``encodedSpace``: ``matrixSize`` (x = readout rows of ``kspace``, H; y = phase-encode columns, W) and
  ``fieldOfView_mm`` (x is twice y in the brain files: the readout is oversampled two-fold);
- ``reconSpace``: the same for the image the scanner (and ``reconstruction_rss``) shows, e.g. 320 x 320;
- ``encodingLimits/kspace_encoding_step_1`` (optional): the phase-encode lines actually acquired; fastMRI zero-pads
  the columns outside ``[W // 2 - center, W // 2 - center + maximum]``.

    >>> geometry = parse_header(h5["ismrmrd_header"][()], source="file_brain_AXFLAIR_200_6002425.h5")  # doctest: +SKIP
    >>> geometry.encoded.matrix, geometry.recon.fov_mm                                                  # doctest: +SKIP
    ((640, 320, 1), (220.0, 220.0, 5.0))

The XML is parsed with the standard library (expat, which refuses entity-expansion bombs since expat 2.4).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass

from brainfm_lite.errors import InputError

NAMESPACE = "http://www.ismrm.org/ISMRMRD"


@dataclass(frozen=True)
class EncodingSpace:
    """One ISMRMRD encoding space.

    Attributes:
        matrix: (x, y, z) samples: x the readout (rows of ``kspace``), y the phase encoding (columns).
        fov_mm: (x, y, z) field of view, mm (z: the slice thickness of a 2D acquisition).
    """

    matrix: tuple[int, int, int]
    fov_mm: tuple[float, float, float]

    @property
    def pixel_mm(self) -> tuple[float, float]:
        """(row, column) pixel size of this space's x-y grid, mm."""
        return self.fov_mm[0] / self.matrix[0], self.fov_mm[1] / self.matrix[1]


@dataclass(frozen=True)
class HeaderGeometry:
    """What the reconstruction reads from the header.

    Attributes:
        encoded: the k-space grid (``kspace`` is [slices, coils, encoded.matrix x, encoded.matrix y]).
        recon: the image grid of ``reconstruction_rss``.
        phase_limits: (minimum, maximum, center) of ``kspace_encoding_step_1``; None when the header has none.
    """

    encoded: EncodingSpace
    recon: EncodingSpace
    phase_limits: tuple[int, int, int] | None = None

    def acquired_columns(self, n_columns: int) -> list[bool]:
        """Which of the `n_columns` k-space columns were acquired (fastMRI's ``padding_left``/``padding_right``):
        all of them without ``phase_limits``."""
        if self.phase_limits is None:
            return [True] * n_columns
        _, maximum, center = self.phase_limits
        left = n_columns // 2 - center
        right = left + maximum + 1
        return [left <= column < right for column in range(n_columns)]


def parse_header(xml: bytes | str, *, source: str) -> HeaderGeometry:
    """The encoding geometry of an ISMRMRD XML header.

    Args:
        xml: the header (``h5["ismrmrd_header"][()]``), bytes or str; with or without the ISMRMRD namespace.
        source: the file it came from, for messages.

    Returns:
        A `HeaderGeometry`.

    Raises:
        InputError: not XML, or a needed field (``encoding/encodedSpace/matrixSize/x`` ...) missing or not a
            positive number; the message names the file and the field.
    """
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError as error:
        raise InputError(f"{source}: 'ismrmrd_header' is not readable XML ({error})") from error
    for element in root.iter():  # drop the namespace, so headers written with and without it read alike
        element.tag = element.tag.rsplit("}", 1)[-1]
    encoding = root.find("encoding")
    if encoding is None:
        raise InputError(f"{source}: 'ismrmrd_header' has no 'encoding' element")
    return HeaderGeometry(encoded=_space(encoding, "encodedSpace", source),
                          recon=_space(encoding, "reconSpace", source),
                          phase_limits=_phase_limits(encoding, source))


def _space(encoding, name: str, source: str) -> EncodingSpace:
    sizes = [_number(encoding, f"{name}/matrixSize/{axis}", source) for axis in "xyz"]
    for axis, size in zip("xy", sizes):
        if size != int(size):
            raise InputError(f"{source}: 'ismrmrd_header' field encoding/{name}/matrixSize/{axis} must be a whole "
                             f"number; got {size:g}")
    fov = tuple(_number(encoding, f"{name}/fieldOfView_mm/{axis}", source) for axis in "xyz")
    return EncodingSpace(matrix=tuple(int(size) for size in sizes), fov_mm=fov)


def _number(encoding, path: str, source: str) -> float:
    element = encoding.find(path)
    if element is None or element.text is None:
        raise InputError(f"{source}: 'ismrmrd_header' has no field encoding/{path}")
    try:
        value = float(element.text)
    except ValueError:
        raise InputError(f"{source}: 'ismrmrd_header' field encoding/{path} is {element.text!r}, "
                         "not a number") from None
    if not value > 0 and not path.endswith("/z"):
        raise InputError(f"{source}: 'ismrmrd_header' field encoding/{path} must be > 0; got {value:g}")
    return value


def _phase_limits(encoding, source: str) -> tuple[int, int, int] | None:
    limits = encoding.find("encodingLimits/kspace_encoding_step_1")
    if limits is None:
        return None
    values = []
    for field in ("minimum", "maximum", "center"):
        element = limits.find(field)
        if element is None or element.text is None:
            return None  # partial limits: treat every column as acquired, as without them
        try:
            values.append(int(element.text))
        except ValueError:
            raise InputError(f"{source}: 'ismrmrd_header' field encoding/encodingLimits/kspace_encoding_step_1/"
                             f"{field} is {element.text!r}, not an integer") from None
    return tuple(values)
