"""Torch datasets of the embedded cohorts, with an optional on-disk cache of preprocessed tensors.

`CbfDataset` turns the ASL cohort's quantified CBF maps into network inputs: crop or pad to one shape around the
brain, then normalise. Simulating a subject takes a fraction of a second at 4 mm and seconds at 2 mm, every epoch;
with ``cache_dir`` each subject is simulated and preprocessed once and later epochs read a small ``.npz`` file.

    >>> cohort = make_asl_cohort(200, n_sites=4, seed=0)                            # doctest: +SKIP
    >>> data = CbfDataset(cohort, size=(64, 64, 64), cache_dir="cache/cbf")        # doctest: +SKIP
    >>> item = data[0]; item["image"].shape, item["targets"]["alzheimers"]          # doctest: +SKIP
    (torch.Size([1, 64, 64, 64]), tensor(0.))
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from brainfm_lite.config import Profile
from brainfm_lite.data.volume import Volume
from brainfm_lite.datasets.base import SubjectDataset
from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.crop import crop_or_pad
from brainfm_lite.preprocess.intensity import zscore
from brainfm_lite.sim.asl.batched import simulate_asl_batch
from brainfm_lite.sim.asl.cohort import make_asl_cohort, subject_record

NORMALISATIONS = ("zscore", "scale")
# Dividing by this keeps CBF's absolute value (global hypoperfusion is a diagnosis) at a network-friendly scale.
CBF_SCALE = 100.0  # mL/100 g/min
TARGETS = ("alzheimers", "vascular", "ftd", "qei")  # three diagnoses (0/1) and the QEI quality score
CACHE_VERSION = 2  # bump when what a cached item holds changes, so old files are not read as new ones


class CbfDataset(SubjectDataset):
    """Preprocessed CBF maps of an :class:`~brainfm_lite.sim.asl.cohort.AslCohort` with their targets.

    Args:
        cohort (AslCohort): From :func:`brainfm_lite.sim.asl.cohort.make_asl_cohort`.
        indices (sequence of int, optional): Subjects to include, in this order (default: all).
        size (tuple of 3 int): Voxel shape every map is cropped or padded to, around the subject's brain (padding is 0).
        normalise (str): ``"zscore"``: mean 0 and standard deviation 1 inside the subject's brain (grey + white matter +
            CSF fraction > 0.5), 0 outside; removes each site's global scale along with each subject's global CBF.
            ``"scale"``: CBF divided by 100 mL/100 g/min everywhere; keeps absolute perfusion.
        cache_dir (str or Path, optional): Folder of preprocessed subjects. A file is named by a hash of everything its
            content depends on (cohort seed, sites, spacing, prevalence scale, subject, size, normalisation), so one
            folder serves many settings.

    Items are dicts: ``image`` float32 [1, X, Y, Z]; ``targets`` {task: float32 scalar} for "alzheimers",
    "vascular", "ftd" (0/1) and "qei" (in [0, 1]); ``site`` and ``index`` (int64 scalars, subject number in the
    cohort). The default DataLoader collate stacks them into a batch.
    """

    cache_prefix = "cbf"
    target_names = TARGETS

    def __init__(self, cohort, indices=None, *, size=(64, 64, 64), normalise: str = "zscore",
                 cache_dir: str | Path | None = None):
        if normalise not in NORMALISATIONS:
            raise InputError(f"normalise must be one of {NORMALISATIONS}; got {normalise!r}")
        super().__init__(cohort, indices, size=size, cache_dir=cache_dir)
        self.normalise = normalise

    def records(self) -> list[dict]:
        """Every item's subject record (site, labels, quality, regional CBF: ``AslCohort.records``'s summary),
        read from the cache; the regional-CBF baseline needs these and nothing else."""
        return [json.loads(str(self.load(int(k))["record"])) for k in self.indices]

    def sites(self) -> np.ndarray:
        """Site of every item [N], from the cohort's random streams (no simulation)."""
        return np.array([self.cohort.site_of(int(k)) for k in self.indices], dtype=int)

    def cache_key(self, index: int) -> list:
        c = self.cohort
        return [CACHE_VERSION, c.seed, len(c.sites), c.spacing_mm, c.prevalence_scale, index, self.size, self.normalise]

    def simulate(self, index: int) -> dict:
        return self.arrays_of(self.cohort[index])

    def prepare(self, n_jobs: int = 1, *, device=None, batch_size: int = 16, part: tuple[int, int] = (0, 1)) -> int:
        """Simulate and cache every subject not cached yet; returns how many were simulated.

        Args:
            n_jobs: Worker processes for the numpy simulation (-1: one per CPU core).
            device: None (default): numpy, one subject at a time, as the recorded results were made. A torch device
                ("cuda", "cpu"): batches of ``batch_size`` subjects on it
                (`~brainfm_lite.sim.asl.batched.simulate_asl_batch`): the same subjects from the same random draws,
                maps equal to the numpy path's to float32 rounding (not bit for bit), many times faster on a GPU.
                ``n_jobs`` is then not used.
            batch_size: Subjects per batch on ``device``.
            part: (k, n), this process's share when n processes fill one cache (`SubjectDataset.missing`).
        """
        if device is None:
            return super().prepare(n_jobs, part=part)
        if self.cache_dir is None:
            raise InputError("CbfDataset.prepare needs a cache_dir: without one there is nothing to fill")
        missing = self.missing(part)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start:start + batch_size]
            for index, subject in zip(chunk, simulate_asl_batch(self.cohort, chunk, device=device)):
                self.store(index, self.arrays_of(subject))
        return len(missing)

    def arrays_of(self, subject) -> dict:
        """What is cached of one simulated subject (an `~brainfm_lite.sim.asl.cohort.AslSubject`)."""
        brain = (subject.tissue["gm"] + subject.tissue["wm"] + subject.tissue["csf"]) > 0.5
        image = preprocess_cbf(subject.cbf, brain, self.size, self.normalise)
        targets = [subject.labels[t] for t in TARGETS[:3]] + [subject.quality["qei"]]
        return {"image": image, "targets": np.array(targets, dtype=np.float32), "site": np.array(subject.site),
                "record": np.array(json.dumps(subject_record(subject)))}


def preprocess_cbf(cbf: Volume, brain: np.ndarray, size, normalise: str) -> np.ndarray:
    """Crop or pad a CBF map (mL/100 g/min) to `size` around `brain`, then normalise; float32 [X, Y, Z]."""
    fixed = crop_or_pad(cbf, size, mask=brain)
    if normalise == "scale":
        return (fixed.data / CBF_SCALE).astype(np.float32)
    fixed_brain = crop_or_pad(cbf.with_data(brain.astype(np.float32)), size, mask=brain).data > 0.5
    return zscore(fixed, mask=fixed_brain).data


def asl_cbf_dataset(profile: Profile, *, cache_dir: str | Path | None = None, indices=None) -> CbfDataset:
    """Every CBF map of the profile's ASL cohort (``n_asl_subjects`` from ``n_asl_sites`` at ``spacing_mm``,
    seed ``seed``), or the subjects `indices` of it, z-scored and cropped or padded to (``cbf_image_size``)^3: what
    pretraining (its `~brainfm_lite.datasets.splits.pretraining_pool`) and evaluation (all) read."""
    cohort = make_asl_cohort(profile.n_asl_subjects, profile.n_asl_sites, seed=profile.seed,
                             spacing_mm=profile.spacing_mm)
    return CbfDataset(cohort, indices, size=(profile.cbf_image_size,) * 3, normalise="zscore", cache_dir=cache_dir)
