"""Is an encoder's feature about anatomy or about contrast? Same-subject vs same-contrast feature distances.

Encode S subjects each imaged with K contrasts (simulated from their qMRI maps), then compare

- ``same_subject``: mean distance between two *contrasts* of one subject (small if features ignore contrast);
- ``same_contrast``: mean distance between two *subjects* in one contrast (small if features ignore anatomy).

A sequence-invariant encoder should give ``same_subject < same_contrast`` (ratio below 1); a contrast-sensitive
one the opposite. Distances are cosine distances (1 - cos) after removing the mean feature of all S x K images,
so the direction shared by every image (e.g. a LayerNorm bias) does not hide the differences.

    >>> images = contrast_images(subjects, ("t1w", "t2w", "pdw", "flair"), size=(32, 32, 32))   # doctest: +SKIP
    >>> contrast_subject_distances(encode_contrasts(encoder, images))                            # doctest: +SKIP
    {'same_subject': 0.41, 'same_contrast': 0.93, 'ratio': 0.44}
"""

from __future__ import annotations

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.preprocess.crop import crop_or_pad
from brainfm_lite.preprocess.intensity import zscore
from brainfm_lite.sim.qmri import subject_contrasts


def cosine_distances(features) -> np.ndarray:
    """1 - cosine similarity of every pair of rows of [N, F]; [N, N] float64 (a zero row is 1 from everything)."""
    x = np.asarray(features, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    unit = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return 1.0 - unit @ unit.T


def nearest_neighbours(features, k: int = 3) -> np.ndarray:
    """The `k` nearest other rows of each row of [N, F] by cosine distance after removing the mean feature (as
    `contrast_subject_distances` measures): [N, k] int row indices, nearest first (ties: the lower index).

    Raises:
        InputError: `features` is not 2D, or holds `k` rows or fewer.
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] <= k or k < 1:
        raise InputError(f"need features [N, F] with more than k = {k} rows (k >= 1); got shape {x.shape}")
    distance = cosine_distances(x - x.mean(axis=0))
    np.fill_diagonal(distance, np.inf)  # a row is not its own neighbour
    return np.argsort(distance, axis=1, kind="stable")[:, :k]


def neighbour_summary(features, ages, sites, k: int = 3) -> dict[str, float]:
    """What an embedding's nearest neighbours share: the mean absolute age difference (years) of each subject to its
    `k` nearest neighbours (`nearest_neighbours`) and, for comparison, to every other subject; and the share of
    those neighbours scanned at the subject's own site beside that of every other subject. An embedding ordered by
    anatomy has neighbours of similar age; one ordered by scanner has neighbours from the same site.

    Args:
        features: [N, F]; ages: [N] years; sites: [N] site labels.

    Returns:
        ``{"neighbour_age_gap", "any_age_gap", "neighbour_same_site", "any_same_site"}``.
    """
    ages, sites = np.asarray(ages, dtype=np.float64), np.asarray(sites)
    neighbours = nearest_neighbours(features, k)
    if not len(ages) == len(sites) == len(neighbours):
        raise InputError(f"need one age and one site per row of features; got {len(ages)} ages, {len(sites)} sites "
                         f"for {len(neighbours)} rows")
    others = ~np.eye(len(ages), dtype=bool)
    age_gap = np.abs(ages[:, None] - ages[None, :])
    same_site = sites[:, None] == sites[None, :]
    rows = np.arange(len(ages))[:, None]
    return {"neighbour_age_gap": float(age_gap[rows, neighbours].mean()), "any_age_gap": float(age_gap[others].mean()),
            "neighbour_same_site": float(same_site[rows, neighbours].mean()),
            "any_same_site": float(same_site[others].mean())}


def contrast_subject_distances(features) -> dict[str, float]:
    """Mean same-subject (across contrasts) and same-contrast (across subjects) distances.

    Args:
        features: [S, K, F]: S >= 2 subjects, K >= 2 contrasts, F features.

    Returns:
        ``{"same_subject", "same_contrast", "ratio"}``; ratio = same_subject / same_contrast (below 1: features
        depend more on the subject than on the contrast).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 3 or x.shape[0] < 2 or x.shape[1] < 2:
        raise InputError(f"need features [S, K, F] with at least 2 subjects and 2 contrasts; got shape {x.shape}")
    n_subjects, n_contrasts, n_features = x.shape
    centred = x - x.reshape(-1, n_features).mean(axis=0)
    distance = cosine_distances(centred.reshape(-1, n_features)).reshape(n_subjects, n_contrasts,
                                                                       n_subjects, n_contrasts)
    subject_same = np.eye(n_subjects, dtype=bool)[:, None, :, None]
    contrast_same = np.eye(n_contrasts, dtype=bool)[None, :, None, :]
    same_subject = float(distance[subject_same & ~contrast_same].mean())
    same_contrast = float(distance[~subject_same & contrast_same].mean())
    return {"same_subject": same_subject, "same_contrast": same_contrast,
            "ratio": same_subject / same_contrast if same_contrast > 0 else float("nan")}


def contrast_images(subjects, kinds=("t1w", "t2w", "pdw", "flair"), *, size=(32, 32, 32)) -> torch.Tensor:
    """Each subject imaged with each clinical contrast preset (simulated from its qMRI maps), cropped or padded to
    `size` around the brain and z-scored in it: [S, K, 1, X, Y, Z] float32."""
    images = []
    for subject in subjects:
        brain = subject.labels > 0
        cropped_brain = crop_or_pad(subject.t1w.with_data(brain.astype(np.float32)), size, mask=brain).data > 0.5
        contrasts = subject_contrasts(subject, kinds)
        images.append([zscore(crop_or_pad(contrasts[k], size, mask=brain), mask=cropped_brain).data[None]
                       for k in kinds])
    return torch.from_numpy(np.array(images, dtype=np.float32))


@torch.no_grad()
def encode_contrasts(encoder, images: torch.Tensor) -> np.ndarray:
    """Features of [S, K, C, X, Y, Z] images with a frozen encoder (eval mode): [S, K, F] float64."""
    if images.ndim != 6:
        raise InputError(f"expected images [S, K, C, X, Y, Z]; got shape {tuple(images.shape)}")
    encoder.eval()
    n_subjects, n_contrasts = images.shape[:2]
    device = next(encoder.parameters()).device
    features = encoder(images.flatten(0, 1).to(device)).double().cpu().numpy()
    return features.reshape(n_subjects, n_contrasts, -1)
