"""2D complex slices of the embedded cohort for MRI reconstruction (chapter 8): many source brains, twenty targets.

The stroke DPM paper pretrains a diffusion prior on many brains scanned with other contrasts, then fine-tunes it on
the FLAIR scans of only 20 subjects. `recon_datasets` builds the same four groups from the synthetic cohort, with
disjoint subjects:

- ``source``: ``recon_source_subjects`` subjects, each in one of T1w, T2w and PDw (taken in turn at every site);
- ``target_train``: ``recon_target_subjects`` subjects' FLAIR (20 at colab and full; fewer at smoke, for time);
- ``target_many``: ``recon_many_subjects`` other subjects' FLAIR, the training set of the upper reference;
- ``test``: ``recon_test_subjects`` subjects' FLAIR, all from the cohort's last site, which no other group uses.

Every slice is what a scanner would reconstruct from fully sampled data: the subject's contrast as its site
acquires it (blur, bias field, Rician noise; `sites.apply_site`), an axial slice from the central part of the brain,
cropped or padded to ``recon_image_size`` squared around the brain, given a smooth random background phase
(`kspace.background_phase`), since real images are complex, and divided by `kspace.acs_scale` of its k-space (the
99th percentile of the low-resolution image from the central 8 % of the columns). That scale uses only what every
undersampled acquisition measures, so `brainfm_lite.eval.recon.reconstruct` divides measured k-space, simulated or
real, by the same statistic and the prior sees what it was trained on; no brain mask or fully sampled image is
needed. Magnitudes then lie around 1 in the brain (its 99th percentile is about 1.1 on the smoke cohort). Slices
are shown anterior up, patient's left on the left; the columns (last axis, left-right) are the phase-encode
direction that `kspace.cartesian_mask` undersamples.

    >>> groups = recon_datasets(load_profile("smoke"), cache_dir="cache/recon")   # doctest: +SKIP
    >>> groups["target_train"].images().shape                                   # doctest: +SKIP
    torch.Size([32, 48, 48])
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from brainfm_lite.atomic import atomic_path
from brainfm_lite.config import Profile
from brainfm_lite.errors import InputError
from brainfm_lite.parallel import run_in_processes
from brainfm_lite.physics.kspace import acs_scale, background_phase, fft2c, to_channels
from brainfm_lite.preprocess.crop import crop_or_pad
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.cohort import Cohort, make_cohort
from brainfm_lite.sim.qmri import subject_contrasts
from brainfm_lite.sim.sites import apply_site
from brainfm_lite.sim.streams import Stream, stream_rng

GROUPS = ("source", "target_train", "target_many", "test")
SOURCE_CONTRASTS = ("t1w", "t2w", "pdw")
TARGET_CONTRAST = "flair"
MIN_BRAIN_AREA = 0.85  # "central part": axial slices with at least 85 % of the largest brain area (no cerebellum)
CACHE_VERSION = 2  # bump when what a cached subject holds changes (2: scaled by acs_scale, not the brain's p99)


class SliceDataset(Dataset):
    """Complex 2D slices with the subject, site and contrast each came from.

    Items are dicts: ``image`` float32 [2, H, W] (real, imaginary), ``subject`` and ``site`` (int64 scalars:
    subject number and site index in the cohort) and ``contrast`` (str). The default DataLoader collate stacks
    them into a batch (contrasts become a list).

    Args:
        images: complex64 [N, H, W].
        brain: bool [N, H, W], where each slice has brain (kept as ``.brain``, e.g. to mask error maps).
        subjects: subject number of every slice [N].
        sites: site index of every slice [N].
        contrasts: contrast name of every slice, N strings.
    """

    def __init__(self, images: torch.Tensor, brain: torch.Tensor, subjects, sites, contrasts):
        if images.ndim != 3 or not images.is_complex():
            raise InputError(f"images must be complex [N, H, W]; got {images.dtype} {tuple(images.shape)}")
        self._images = images.to(torch.complex64)
        self.brain = torch.as_tensor(brain, dtype=torch.bool)
        self.subjects = torch.as_tensor(np.asarray(subjects), dtype=torch.int64)
        self.sites = torch.as_tensor(np.asarray(sites), dtype=torch.int64)
        self.contrasts = [str(c) for c in contrasts]
        if self.brain.shape != self._images.shape:
            raise InputError(f"brain masks {tuple(self.brain.shape)} must match images {tuple(images.shape)}")
        if not len(self._images) == len(self.subjects) == len(self.sites) == len(self.contrasts):
            raise InputError("images, subjects, sites and contrasts must have one entry per slice")

    def __len__(self) -> int:
        return len(self._images)

    def __getitem__(self, index: int) -> dict:
        return {"image": to_channels(self._images[index]), "subject": self.subjects[index],
                "site": self.sites[index], "contrast": self.contrasts[index]}

    def images(self) -> torch.Tensor:
        """Every slice, complex64 [N, H, W] (magnitude about 1 in the brain)."""
        return self._images

    def __repr__(self) -> str:
        size = "x".join(str(s) for s in self._images.shape[1:])
        return (f"SliceDataset({len(self)} slices of {size} from {len(set(self.subjects.tolist()))} subjects, "
                f"sites {sorted(set(self.sites.tolist()))}, contrasts {sorted(set(self.contrasts))})")


def recon_subject_groups(profile: Profile) -> dict[str, list[int]]:
    """Cohort subject numbers of every group (disjoint), from the profile's ``recon_*`` sizes and ``n_sites``.

    Subject k is scanned at site ``k % n_sites``. The last site is the test site: test subjects come only from
    it and no training group uses it. Training subjects are taken in order: first the target (so its 20
    subjects do not change when the other groups grow), then the many-FLAIR set, then the source.
    """
    if profile.n_sites < 2:
        raise InputError(f"recon data needs n_sites >= 2 (one site is held out for testing); got {profile.n_sites}")
    wanted = {"target_train": profile.recon_target_subjects, "target_many": profile.recon_many_subjects,
              "source": profile.recon_source_subjects, "test": profile.recon_test_subjects}
    for group, count in wanted.items():
        if count < 1:
            raise InputError(f"recon_{group} subjects must be >= 1; got {count}")
    training_order = ["target_train", "target_many", "source"]
    groups = {group: [] for group in GROUPS}
    index = 0
    while any(len(groups[g]) < wanted[g] for g in GROUPS):
        if index % profile.n_sites == profile.n_sites - 1:
            group = "test" if len(groups["test"]) < wanted["test"] else None
        else:
            group = next((g for g in training_order if len(groups[g]) < wanted[g]), None)
        if group is not None:
            groups[group].append(index)
        index += 1
    return groups


def recon_datasets(profile: Profile, *, cache_dir: str | Path | None = None,
                   n_jobs: int = 1) -> dict[str, SliceDataset]:
    """The four slice groups of chapter 8 (see the module docstring), keyed by `GROUPS`.

    Args:
        profile: a `Profile`; reads seed, n_sites and the ``recon_*`` knobs.
        cache_dir: folder of simulated subjects (one hash-named .npz each); simulation is the slow part, so a
            second call with the same settings only reads files.
        n_jobs: worker processes simulating subjects (-1: one per CPU core).

    Returns:
        {"source", "target_train", "target_many", "test"} -> SliceDataset.
    """
    size = int(profile.recon_image_size)
    if size < 16 or size % 16:
        raise InputError(f"recon_image_size must be a positive multiple of 16; got {size}")
    if profile.recon_slices_per_subject < 1:
        raise InputError(f"recon_slices_per_subject must be >= 1; got {profile.recon_slices_per_subject}")
    groups = recon_subject_groups(profile)
    cohort = make_cohort(max(max(members) for members in groups.values()) + 1, seed=profile.seed,
                         spacing_mm=profile.recon_spacing_mm, n_sites=profile.n_sites)
    if cache_dir is not None:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    load = functools.partial(_cached_subject_slices, cohort=cohort, size=size,
                             n_slices=profile.recon_slices_per_subject, cache_dir=cache_dir)
    jobs = [(index, SOURCE_CONTRASTS if group == "source" else (TARGET_CONTRAST,))
            for group, members in groups.items() for index in members]
    simulated = iter(run_in_processes(load, jobs, n_jobs=n_jobs))  # one pool for every group
    datasets = {}
    for group, members in groups.items():
        per_subject = [next(simulated) for _ in members]
        datasets[group] = SliceDataset(
            torch.from_numpy(np.concatenate([s["images"] for s in per_subject])),
            brain=torch.from_numpy(np.concatenate([s["brain"] for s in per_subject])),
            subjects=np.concatenate([np.full(len(s["images"]), k) for k, s in zip(members, per_subject)]),
            sites=np.concatenate([np.full(len(s["images"]), int(s["site"])) for s in per_subject]),
            contrasts=np.concatenate([s["contrasts"] for s in per_subject]),
        )
    return datasets


def subject_slices(cohort: Cohort, index: int, *, contrasts, size: int, n_slices: int) -> dict[str, np.ndarray]:
    """Complex axial slices of one subject, as its site would acquire them (see the module docstring).

    Args:
        cohort: the cohort (`synth.make_cohort`).
        index: subject number in it.
        contrasts: contrast presets; the subject is scanned in ``contrasts[(index // n_sites) % len(contrasts)]``.
        size: edge of the square slices, pixels.
        n_slices: slices wanted, evenly spread over the central part of the brain (fewer if it has fewer).

    Returns:
        {"images": complex64 [S, size, size], "brain": bool [S, size, size] (tissue fractions > 0.5),
        "contrasts": str [S], "site": int scalar}.
    """
    subject = cohort[index]
    brain = sum(subject.tissue[name] for name in ("csf", "gm", "wm", "lesion")) > 0.5
    picks = central_slices(brain, n_slices)
    # One contrast a subject: simulating and acquiring a 3D scan is the slow part. index // n_sites numbers the
    # subjects of one site, so every site contributes every contrast.
    contrast = contrasts[(index // len(cohort.sites)) % len(contrasts)]
    rng = stream_rng(cohort.seed, Stream.RECON_ACQUISITION, index)
    anatomy = load_anatomy(cohort.spacing_mm)
    volume = subject_contrasts(subject, kinds=(contrast,))[contrast]
    scan = apply_site(volume.data, subject.site, rng, anatomy,
                   reference_intensity=float(np.median(volume.data[subject.labels == 3])))  # 3D, then slices
    window = (size, size, brain.shape[2])
    scan = crop_or_pad(volume.with_data(scan), window, mask=brain).data
    brain_window = crop_or_pad(subject.t1w.with_data(brain.astype(np.float32)), window, mask=brain).data > 0.5

    images, masks = [], []
    for z in picks:
        magnitude = _axial(scan[:, :, z])
        inside = _axial(brain_window[:, :, z])
        phase = background_phase((size, size), seed=int(rng.integers(2**31))).numpy()
        image = magnitude * np.exp(1j * phase)
        # The scale a scanner's data give (fully sampled here: one coil, all of k-space), as reconstruct measures it.
        image = image / acs_scale(fft2c(image)[None])
        images.append(image.astype(np.complex64))
        masks.append(inside)
    return {"images": np.stack(images), "brain": np.stack(masks), "contrasts": np.array([contrast] * len(picks)),
            "site": np.array(index % len(cohort.sites))}


def load_fastmri_kspace(path: str | Path) -> tuple[torch.Tensor, dict]:
    """Raw k-space of one fastMRI brain file, read through MONAI's ``FastMRIReader`` (needs h5py).

    fastMRI stores k-space with the same centered, orthonormal convention as `kspace.fft2c`, so
    ``kspace.zero_filled(k)`` gives the coil-combined images. Brain k-space is oversampled twice along the
    readout (rows): crop the images to the central rows (e.g. 320 x 320) to compare with ``reconstruction_rss``.

    Args:
        path: a ``.h5`` file of the fastMRI brain dataset (see `brainfm_lite.fetch.dataset_files.prepare_fastmri`).

    Returns:
        (k-space complex64 [S, C, H, W], a single-coil file getting C = 1; metadata: "acquisition" (e.g.
        "AXFLAIR"), "max", "norm", "patient_id" and "reconstruction_rss" [S, h, w] where the file has them).

    Raises:
        InputError: not a readable fastMRI file (missing, not HDF5, or without a complex ``kspace``).
    """
    from monai.apps.reconstruction.fastmri_reader import FastMRIReader, has_h5py

    path = Path(path)
    if not has_h5py:
        raise InputError(f"{path}: reading fastMRI files needs h5py (pip install h5py)")
    # Checked here, not with reader.verify_suffix: MONAI 1.6 prefixes its ".h5" with a second dot and never matches.
    if not path.is_file() or path.suffix != ".h5":
        raise InputError(f"{path}: not a fastMRI .h5 file")
    reader = FastMRIReader()
    try:
        kspace, header = reader.get_data(reader.read(str(path)))
    except (OSError, KeyError) as error:
        raise InputError(f"{path}: cannot read a 'kspace' dataset from it ({error})") from error
    if not np.iscomplexobj(kspace) or kspace.ndim not in (3, 4):
        raise InputError(f"{path}: 'kspace' must be complex [S, H, W] or [S, C, H, W]; got {kspace.dtype} "
                         f"{kspace.shape}")
    kspace = torch.from_numpy(np.asarray(kspace, dtype=np.complex64))
    meta = {key: header[key] for key in ("acquisition", "max", "norm", "patient_id", "reconstruction_rss")
            if key in header}
    return (kspace.unsqueeze(1) if kspace.ndim == 3 else kspace), meta


def central_slices(brain: np.ndarray, n_slices: int) -> np.ndarray:
    """Indices of ``n_slices`` axial slices (last axis) spread evenly over those whose brain area is at least
    `MIN_BRAIN_AREA` of the largest: the central part of the brain, without the cerebellum and the vertex."""
    area = brain.sum(axis=(0, 1))
    if area.max() == 0:
        raise InputError("the brain mask is empty: no slice to take")
    candidates = np.flatnonzero(area >= MIN_BRAIN_AREA * area.max())
    positions = np.round(np.linspace(0, len(candidates) - 1, min(n_slices, len(candidates)))).astype(int)
    return candidates[np.unique(positions)]


def _axial(slice_xy: np.ndarray) -> np.ndarray:
    """An [X, Y] axial slice (RAS) for display: rows anterior to posterior, columns left to right, [H, W]."""
    return np.ascontiguousarray(np.rot90(slice_xy))


def _cached_subject_slices(job: tuple[int, tuple[str, ...]], *, cohort: Cohort, size: int, n_slices: int,
                           cache_dir: str | Path | None) -> dict[str, np.ndarray]:
    """`subject_slices` of job (subject index, contrasts), read from ``cache_dir`` when there, else simulated (and
    written when a folder is given)."""
    index, contrasts = job
    if cache_dir is None:
        return subject_slices(cohort, index, contrasts=contrasts, size=size, n_slices=n_slices)
    key = json.dumps([CACHE_VERSION, cohort.seed, len(cohort.sites), cohort.spacing_mm, cohort.lesion_prob, index,
                      list(contrasts), size, n_slices])
    path = Path(cache_dir) / f"recon-{hashlib.sha256(key.encode()).hexdigest()[:20]}.npz"
    if path.is_file():
        with np.load(path) as stored:
            return {name: stored[name] for name in stored.files}
    arrays = subject_slices(cohort, index, contrasts=contrasts, size=size, n_slices=n_slices)
    with atomic_path(path) as tmp:  # a reader never sees a half-written file, even with many workers
        np.savez(tmp, **arrays)
    return arrays
