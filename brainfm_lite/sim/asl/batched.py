"""Many subjects of the ASL cohort at once, on a torch device: the same subjects as ``cohort[k]``, from the same draws.

`simulate_subject` makes one subject with numpy: its anatomy (the template warped and aged), true perfusion,
diagnoses, ASL and M0 scans with their artefacts, the quantified CBF and its QEI. `simulate_asl_batch` makes B
subjects in one pass of the same code on torch tensors [B, X, Y, Z] (on a GPU when given one):

1. every random number is drawn with numpy, subject by subject, from the subject's own streams and in the same
   order as `simulate_subject` (`~brainfm_lite.sim.cohort.subject_shape`, `~brainfm_lite.sim.asl.cohort.draw_scan`),
   then stacked (`~brainfm_lite.sim.batching.collate`): same seed, same subject, whichever path made it;
2. the computation is the numpy path's own functions (`warp_anatomy`, `perfusion_from_draw`, `apply_diagnosis_draw`,
   `acquire_from_noise`, `qei`) called with tensors: the signal equations and the scipy.ndimage operations dispatch
   on the array kind (``brainfm_lite.physics._backend``, ``brainfm_lite.physics._ndimage``). Subjects are grouped where
   the code branches on a study's protocol (by site) or on a diagnosis' kind.

The maps agree with the numpy path to float32 rounding (``tests/sim/test_asl_batched.py`` asserts rtol 1e-4 and an
absolute tolerance of 1e-5 of each map's largest value). The structural T1w image is not made (the ASL subject does
not keep it), and nor are lesions (the ASL cohort has none).

    >>> cohort = make_asl_cohort(11_405, n_sites=14, seed=0, spacing_mm=2.0)   # doctest: +SKIP
    >>> subjects = simulate_asl_batch(cohort, range(32), device="cuda")         # doctest: +SKIP
    >>> subjects[3].cbf.data.shape  # cohort[3]'s map, to float32 rounding        # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics.asl import qei
from brainfm_lite.sim.anatomy import load_anatomy
from brainfm_lite.sim.asl.acquisition import Acquisition, ArtifactAmounts, acquire_from_noise
from brainfm_lite.sim.asl.cohort import AslCohort, AslSubject, _pick_site_index, asl_subject, draw_scan
from brainfm_lite.sim.asl.perfusion import apply_diagnosis_draw, grid_on, perfusion_from_draw, perfusion_grid
from brainfm_lite.sim.asl.sites import DIAGNOSES
from brainfm_lite.sim.batching import collate, stack
from brainfm_lite.sim.cohort import subject_shape, warp_anatomy
from brainfm_lite.sim.streams import Stream, stream_rng

TISSUES = ("gm", "wm", "csf")


def simulate_asl_batch(cohort: AslCohort, indices, *, device="cpu") -> list[AslSubject]:
    """Subjects ``indices`` of ``cohort``, simulated together on ``device``.

    Args:
        cohort: From :func:`~brainfm_lite.sim.asl.cohort.make_asl_cohort`.
        indices: Subject numbers (any order; repeats allowed). Memory grows with their number: about 0.3 GB a subject
            at 2 mm on a GPU, so batches of 8 to 64.
        device: A torch device ("cpu", "cuda", ...).

    Returns:
        One :class:`~brainfm_lite.sim.asl.cohort.AslSubject` per index (numpy arrays, as ``cohort[k]`` gives).
    """
    indices = [int(k) for k in indices]
    if not indices:
        return []
    if min(indices) < 0 or max(indices) >= len(cohort):
        raise InputError(f"indices must lie in [0, {len(cohort)}) for this cohort; got {min(indices)}..{max(indices)}")
    device = torch.device(device)
    anatomy = load_anatomy(cohort.spacing_mm)
    grid = perfusion_grid(anatomy.shape, anatomy.affine)
    grid_here = grid_on(grid, device)

    # Anatomy: each subject's shape draws, then one warp of the whole batch (ASL subjects have no lesions).
    shapes = [subject_shape(k, cohort.seed) for k in indices]
    _, _, fractions = warp_anatomy(anatomy, collate([shape.warp() for shape in shapes], device), images=TISSUES)
    tissue = {name: fractions[name].clamp_(0.0, 1.0) for name in TISSUES}  # float32 sums can overshoot 1
    gm_numpy = tissue["gm"].cpu().numpy()

    # Everything else each subject draws, in simulate_subject's order (an infarct's place reads its grey matter).
    sites, draws = [], []
    for b, (index, shape) in enumerate(zip(indices, shapes)):
        rng = stream_rng(cohort.seed, Stream.ASL_SUBJECT, index)
        sites.append(cohort.sites[_pick_site_index(rng, cohort.sites)])
        draws.append(draw_scan(rng, sites[-1], grid, age=shape.age, sex=shape.sex,
                               prevalence_scale=cohort.prevalence_scale, gm=gm_numpy[b]))

    ages = stack([shape.age for shape in shapes], device)
    true_cbf, att = perfusion_from_draw(tissue["gm"], tissue["wm"], grid_here, age=ages,
                                        draw=collate([d.perfusion for d in draws], device))
    _apply_diagnoses(draws, true_cbf, att, grid_here, device)
    cbf, scans = _acquire_by_site(sites, draws, true_cbf, att, tissue, grid_here, device)
    quality = qei(cbf, *(tissue[name] for name in TISSUES), voxel_size_mm=(cohort.spacing_mm,) * 3)

    return [asl_subject(index, site, shape.age, shape.sex, anatomy.affine.copy(),
                        {name: _numpy(tissue[name][b]) for name in TISSUES}, draw, _numpy(true_cbf[b]),
                        _numpy(att[b]), scan, {"qei": float(quality[b])})
            for b, (index, shape, site, draw, scan) in enumerate(zip(indices, shapes, sites, draws, scans))]


def _apply_diagnoses(draws, true_cbf, att, grid, device) -> None:
    """Each diagnosis, in `DIAGNOSES` order, on the subjects that have it (grouped by its kind), in place."""
    for name in DIAGNOSES:
        groups = defaultdict(list)
        for b, draw in enumerate(draws):
            if name in draw.diagnoses:
                groups[draw.diagnoses[name].kind].append(b)
        for positions in groups.values():
            cbf, transit = true_cbf[positions], att[positions]
            apply_diagnosis_draw(collate([draws[b].diagnoses[name] for b in positions], device), cbf, transit, grid)
            true_cbf[positions], att[positions] = cbf, transit


def _acquire_by_site(sites, draws, true_cbf, att, tissue, grid, device) -> tuple[torch.Tensor, list[Acquisition]]:
    """Every subject's scan, one batch per site (its protocol decides which code runs): the quantified CBF of all
    [B, X, Y, Z] on the device, and each subject's `Acquisition` (numpy)."""
    cbf = torch.empty_like(true_cbf)
    scans = [None] * len(sites)
    by_site = defaultdict(list)
    for b, site in enumerate(sites):
        by_site[site.index].append(b)
    for positions in by_site.values():
        scan = acquire_from_noise(true_cbf[positions], att[positions],
                                  {name: tissue[name][positions] for name in TISSUES}, sites[positions[0]],
                                  collate([draws[b].artifacts for b in positions], device), grid,
                                  collate([draws[b].noise for b in positions], device))
        cbf[positions] = scan.cbf
        amounts = {name: torch.as_tensor(value).reshape(-1) for name, value in scan.amounts.to_dict().items()}
        for j, b in enumerate(positions):
            delay = scan.delay if isinstance(scan.delay, float) else _numpy(scan.delay[j])
            scans[b] = Acquisition(_numpy(scan.delta_m[j]), _numpy(scan.m0[j]), _numpy(scan.cbf[j]), delay,
                                   ArtifactAmounts(**{name: float(value[j]) for name, value in amounts.items()}))
    return cbf, scans


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().cpu().numpy()
