"""`FeatureTable`: one feature vector per scan file, written to and read from CSV with the standard csv module.

The CSV has a header ``file,f0,f1,...,f{D-1}`` and one row per scan; values are written with 9 significant
digits, which float32 reads back exactly. Writing is atomic (:func:`brainfm_lite.atomic.atomic_path`): a reader
sees the previous file or the complete new one. pandas reads it too: ``pandas.read_csv(path, index_col="file")``.

Example:
    >>> table = features_from_scans("weights/simclr_t1", ["ds/"])    # doctest: +SKIP
    >>> table.features.shape, table.files[0]                         # doctest: +SKIP
    ((12, 128), 'ds/sub-01/anat/sub-01_T1w.nii.gz')
    >>> table.to_csv("features.csv")                                 # doctest: +SKIP
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from brainfm_lite.atomic import atomic_path
from brainfm_lite.errors import InputError

FILE_COLUMN = "file"


@dataclass
class FeatureTable:
    """Features of scans: row k of `features` belongs to `files[k]`.

    Attributes:
        files: the scan files, as they were named (a BIDS root's scans under the root as given).
        features: [N, D] float32, one row per file.
    """

    files: list[str]
    features: np.ndarray

    def __post_init__(self):
        self.files = [str(f) for f in self.files]
        self.features = np.asarray(self.features, dtype=np.float32)
        if self.features.ndim != 2 or self.features.shape[0] != len(self.files):
            raise InputError(f"FeatureTable needs features [N, D] with one row per file; got shape "
                             f"{self.features.shape} for {len(self.files)} files")

    def __len__(self) -> int:
        return len(self.files)

    @property
    def columns(self) -> list[str]:
        """``["file", "f0", ..., "f{D-1}"]``: the CSV header."""
        return [FILE_COLUMN] + [f"f{k}" for k in range(self.features.shape[1])]

    def to_csv(self, path: str | Path) -> Path:
        """Write the table to `path` (atomically; its folder is created when missing); returns `path`.

        Raises:
            InputError: `path` is a folder.
        """
        path = Path(path).expanduser()
        if path.is_dir():
            raise InputError(f"{path}: is a folder; give the CSV file to write, e.g. {path / 'features.csv'}")
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(self.columns)
            for name, row in zip(self.files, self.features):
                writer.writerow([name, *(f"{value:.9g}" for value in row)])
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> "FeatureTable":
        """Read a table written by `to_csv`.

        Raises:
            InputError: a missing file, a header other than ``file,f0,...``, or a row of the wrong length or with
                a value that is not a number (the message names the file and the line).
        """
        path = Path(path).expanduser()
        try:
            with open(path, newline="") as handle:
                rows = list(csv.reader(handle))
        except OSError as err:
            raise InputError(f"{path}: cannot be read ({err})") from err
        if not rows or rows[0][:1] != [FILE_COLUMN] or rows[0][1:] != [f"f{k}" for k in range(len(rows[0]) - 1)]:
            raise InputError(f"{path}: not a feature table (the header must be file,f0,f1,...)")
        width = len(rows[0])
        for line, row in enumerate(rows[1:], start=2):
            if len(row) != width:
                raise InputError(f"{path}: line {line} has {len(row)} fields, the header {width}")
        try:
            features = np.array([[float(v) for v in row[1:]] for row in rows[1:]], dtype=np.float32)
        except ValueError as err:
            raise InputError(f"{path}: a feature value is not a number ({err})") from err
        return cls(files=[row[0] for row in rows[1:]], features=features.reshape(len(rows) - 1, width - 1))
