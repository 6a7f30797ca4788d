"""One dataset item per cohort subject, simulated on demand and optionally cached as a small ``.npz`` file.

Simulating a subject (anatomy, contrasts, CBF quantification) takes a fraction of a second at 4 mm and seconds at
2 mm, every epoch; with ``cache_dir`` each subject is simulated once and later reads are file reads. The file name
is a hash of everything its content depends on (the subclass's `cache_key`), so one folder serves many settings.
Files are written atomically: a reader never sees a half-written one, even with many DataLoader workers. A cached
file that cannot be trusted (truncated, empty, not an ``.npz`` of this dataset, or holding an image of another
shape) is reported with a warning naming it and simulated again.

Subclasses (`~brainfm_lite.datasets.cbf.CbfDataset`, `~brainfm_lite.datasets.structural.StructuralDataset`)
say what a subject becomes (`simulate`: at least ``image`` [X, Y, Z], ``targets`` [T] in the order of
`target_names`, and ``site``) and what the cache key holds (`cache_key`).
"""

from __future__ import annotations

import hashlib
import json
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from numpy.lib.npyio import NpzFile
from torch.utils.data import Dataset

from brainfm_lite.atomic import atomic_path
from brainfm_lite.errors import InputError
from brainfm_lite.parallel import run_in_processes


class SubjectDataset(Dataset):
    """Base class: subjects `indices` of `cohort`, each preprocessed to a cube of `size` voxels.

    Args:
        cohort: a cohort whose ``cohort[k]`` simulates subject k (``len(cohort)`` subjects).
        indices: subjects to include, in this order (default: all).
        size: voxel shape (X, Y, Z) every image is cropped or padded to.
        cache_dir: folder of cached subjects (created); None: simulate every time.
    """

    cache_prefix = "subject"  # file-name prefix of the cached subjects
    target_names: tuple[str, ...] = ()  # the tasks, in the order of each subject's ``targets`` array

    def __init__(self, cohort, indices=None, *, size=(64, 64, 64), cache_dir: str | Path | None = None):
        size = tuple(int(s) for s in size)
        if len(size) != 3 or min(size) < 1:
            raise InputError(f"size must be 3 positive voxel counts; got {size}")
        self.cohort = cohort
        self.indices = np.arange(len(cohort)) if indices is None else np.asarray(indices, dtype=int)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= len(cohort)):
            raise InputError(f"indices must lie in [0, {len(cohort)}) for this cohort")
        self.size = size
        self.cache_dir = None if cache_dir is None else Path(cache_dir)
        if self.cache_dir is not None:
            self.cache_dir.mkdir(parents=True, exist_ok=True)

    def __len__(self) -> int:
        return int(self.indices.size)

    def __getitem__(self, position: int) -> dict:
        """``image`` float32 [1, X, Y, Z], ``targets`` {task: float32 scalar}, ``site`` and ``index`` (int64
        scalars; index = subject number in the cohort). The default DataLoader collate stacks them into a batch."""
        index = int(self.indices[position])
        arrays = self.load(index)
        return {
            "image": torch.from_numpy(arrays["image"][None]),
            "targets": {task: torch.tensor(float(arrays["targets"][k]), dtype=torch.float32)
                        for k, task in enumerate(self.target_names)},
            "site": torch.tensor(int(arrays["site"])),
            "index": torch.tensor(index),
        }

    def targets(self) -> dict[str, np.ndarray]:
        """Every item's targets as arrays [N] (reads the cache, or simulates every subject without one)."""
        rows = np.array([self.load(int(k))["targets"] for k in self.indices]).reshape(-1, len(self.target_names))
        return {task: rows[:, k] for k, task in enumerate(self.target_names)}

    def cache_key(self, index: int) -> list:
        """JSON-able values that decide subject `index`'s cached arrays."""
        raise NotImplementedError

    def simulate(self, index: int) -> dict[str, np.ndarray]:
        """Subject `index` as named arrays (what is cached)."""
        raise NotImplementedError

    def cache_file(self, index: int) -> Path:
        """Where subject `index` is cached (only meaningful with a ``cache_dir``)."""
        key = json.dumps(self.cache_key(index))
        return self.cache_dir / f"{self.cache_prefix}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"

    def load(self, index: int) -> dict[str, np.ndarray]:
        """Subject `index` as arrays: from the cache when it is there, else simulated (and cached when asked)."""
        if self.cache_dir is None:
            return self.simulate(index)
        path = self.cache_file(index)
        if path.is_file():
            arrays, problem = self._read_cached(path)
            if problem is None:
                return arrays
            warnings.warn(f"{path}: damaged cache file ({problem}); simulating subject {index} again", stacklevel=2)
        arrays = self.simulate(index)
        self.store(index, arrays)
        return arrays

    def store(self, index: int, arrays: dict[str, np.ndarray]) -> None:
        """Write subject `index`'s arrays to its cache file, atomically (needs a ``cache_dir``)."""
        with atomic_path(self.cache_file(index)) as tmp:
            np.savez(tmp, **arrays)

    def _read_cached(self, path: Path) -> tuple[dict[str, np.ndarray] | None, str | None]:
        """(arrays, None) from a cached file, or (None, what is wrong with it). Reads every array, so that a
        truncated or corrupted member (checked by its CRC) shows here, not in a DataLoader worker later."""
        try:
            stored = np.load(path, allow_pickle=False)
            if not isinstance(stored, NpzFile):  # a bare .npy array
                return None, "not an .npz archive"
            with stored:
                arrays = {name: stored[name] for name in stored.files}
        except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, KeyError) as err:
            return None, f"unreadable: {type(err).__name__}: {err}"
        missing = [name for name in ("image", "targets", "site") if name not in arrays]
        if missing:
            return None, f"no {', '.join(missing)} array"
        if arrays["image"].shape != self.size:
            return None, f"image of shape {arrays['image'].shape}, expected {self.size}"
        if arrays["targets"].shape != (len(self.target_names),):
            return None, f"targets of shape {arrays['targets'].shape}, expected ({len(self.target_names)},)"
        return arrays, None

    def prepare(self, n_jobs: int = 1, *, part: tuple[int, int] = (0, 1)) -> int:
        """Simulate and cache every subject not cached yet, in `n_jobs` worker processes (-1: one per CPU core).

        Needs a ``cache_dir``. Returns how many subjects were simulated; training then only reads the cache.
        `part` (k, n): only the k-th of n interleaved shares of the subjects (see `missing`), so that n processes
        (torchrun's ranks) fill one cache folder together, each simulating its own share.
        """
        if self.cache_dir is None:
            raise InputError(f"{type(self).__name__}.prepare needs a cache_dir: without one there is nothing to fill")
        missing = self.missing(part)
        run_in_processes(self.load, missing, n_jobs=n_jobs)
        return len(missing)

    def missing(self, part: tuple[int, int] = (0, 1)) -> list[int]:
        """Subjects (cohort indices) whose cache file is not there yet (needs a ``cache_dir``).

        `part` (k, n) lists only subjects k, k + n, k + 2n ... of `indices`: shares fixed by position, not by
        what is cached at the moment, so processes that look at different times never pick the same subject.
        """
        k, n = part
        if not 0 <= k < n:
            raise InputError(f"part must be (k, n) with 0 <= k < n, got {part}")
        return [int(i) for i in self.indices[k::n] if not self.cache_file(int(i)).is_file()]
