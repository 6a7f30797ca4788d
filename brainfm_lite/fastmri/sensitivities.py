"""Coil sensitivities from the autocalibration (ACS) lines, as fastMRI's VarNet starts its estimate.

Every Cartesian fastMRI acquisition samples a block of central phase-encode columns fully (the ACS lines). Their
inverse FFT, the other columns set to zero, gives each coil's image at low resolution along the columns; coil
sensitivities vary slowly, so the low-resolution coil images divided by their root-sum-of-squares (RSS) are an
estimate of them, with ``sum_c |S_c|^2 = 1`` wherever the head is (the normalisation of
`brainfm_lite.physics.kspace.coil_sensitivities`). Outside the head the ratio is noise, so the maps are masked:
kept where the low-resolution RSS exceeds `SUPPORT_FRACTION` of its 99th percentile (holes filled), zero elsewhere.
The measurements then say nothing about the pixels outside that support, and the reconstruction sets them to zero.

This is the direct estimate (fastMRI's ``SensitivityModel`` before its learnt refinement), not ESPIRiT: it is
exact when the coil images are sensitivities times one image and the sensitivities are band-limited to the ACS
block, and it blurs them along the columns otherwise (a 220 mm field of view with 26 ACS lines: about 8.5 mm).

    >>> sens, support = estimate_sensitivities(kspace, acs_block(mask))     # [S, C, H, W], [S, H, W]  # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.ndimage import binary_fill_holes

from brainfm_lite.errors import InputError
from brainfm_lite.physics.kspace import ifft2c, rss

SUPPORT_FRACTION = 0.05  # of the low-resolution RSS image's 99th percentile: below it a pixel is background
SUPPORT_PERCENTILE = 99.0


def acs_block(mask) -> torch.Tensor:
    """The fully sampled block of central columns of a column mask: the sampled columns adjoining DC (``W // 2``).

    Args:
        mask: bool [W], the sampled columns.

    Returns:
        bool [W], True on the ACS columns.

    Raises:
        InputError: DC itself is not sampled.
    """
    mask = torch.as_tensor(np.asarray(mask), dtype=torch.bool)
    if mask.ndim != 1:
        raise InputError(f"acs_block takes a column mask [W]; got shape {tuple(mask.shape)}")
    centre = mask.shape[0] // 2
    if not bool(mask[centre]):
        raise InputError("the mask does not sample the centre column (DC): no autocalibration lines to estimate "
                         "coil sensitivities from")
    left = centre
    while left > 0 and bool(mask[left - 1]):
        left -= 1
    right = centre
    while right < mask.shape[0] - 1 and bool(mask[right + 1]):
        right += 1
    block = torch.zeros_like(mask)
    block[left:right + 1] = True
    return block


def estimate_sensitivities(kspace: torch.Tensor, acs: torch.Tensor, *, support_fraction: float = SUPPORT_FRACTION,
                           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Coil sensitivities and the head's support from the ACS columns of multi-coil k-space (module docstring).

    Args:
        kspace: measured k-space [S, C, H, W], complex (only the `acs` columns are read).
        acs: bool [W], the autocalibration columns (`acs_block`).
        support_fraction: background threshold, a fraction of each slice's 99th percentile of the low-resolution
            RSS image.

    Returns:
        (sensitivities complex64 [S, C, H, W], zero outside the support; support bool [S, H, W]).
    """
    if kspace.ndim != 4 or not kspace.is_complex():
        raise InputError(f"kspace must be complex [S, C, H, W]; got {kspace.dtype} {tuple(kspace.shape)}")
    acs = torch.as_tensor(acs, dtype=torch.bool)
    if acs.shape != kspace.shape[-1:] or not bool(acs.any()):
        raise InputError(f"acs must be a non-empty column mask [{kspace.shape[-1]}]; got {tuple(acs.shape)}")
    low = ifft2c(kspace * acs)  # [S, C, H, W] coil images, low resolution along the columns
    magnitude = rss(low)  # [S, H, W]
    level = torch.quantile(magnitude.flatten(1).double(), SUPPORT_PERCENTILE / 100, dim=1).float()
    support = magnitude > support_fraction * level.view(-1, 1, 1)
    support = torch.from_numpy(np.stack([binary_fill_holes(s) for s in support.numpy()]))
    if not bool(support.flatten(1).any(dim=1).all()):
        raise InputError("a slice's autocalibration lines hold no signal (an empty slice?): no coil support")
    sens = low / magnitude.clamp(min=torch.finfo(magnitude.dtype).tiny).unsqueeze(1)
    return (sens * support.unsqueeze(1)).to(torch.complex64), support
