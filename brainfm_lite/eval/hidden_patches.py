"""How well a masked autoencoder fills in what it was not shown: its error on the hidden patches beside two
predictors that need no training.

On each volume the MAE hides ``masking_ratio`` of the patches (a seeded draw, so a number can be recomputed), and
three predictions of the hidden voxels are scored by their mean squared error there:

- ``mae``: the MAE's decoder output;
- ``zero``: 0 everywhere (the background value; the error is the hidden voxels' mean square);
- ``visible_mean``: each volume's mean over its visible voxels (a flat guess from what the encoder saw).

A trained MAE beats both; an untrained one does not beat ``visible_mean``.

    >>> mae = from_pretrained("book/results/reference/weights/mae_cbf")         # doctest: +SKIP
    >>> hidden_patch_errors(mae, maps, masking_ratio=0.75, seed=0)               # maps [B, 1, X, Y, Z]
    {'mae': 0.0031, 'zero': 0.0452, 'visible_mean': 0.0107}
"""

from __future__ import annotations

import torch

from brainfm_lite.errors import InputError


@torch.no_grad()
def hidden_patch_errors(mae, volumes: torch.Tensor, *, masking_ratio: float = 0.75, seed: int = 0) -> dict[str, float]:
    """Mean squared error over the hidden voxels of the MAE and of the two untrained predictors.

    Args:
        mae: a `~brainfm_lite.models.mae.MAE` (not trained with ``norm_pix_loss``: its output is intensities).
        volumes: [B, C, X, Y, Z] at the MAE's image size, in the units it was trained on.
        masking_ratio: fraction of patches hidden, in (0, 1).
        seed: seeds the patch draw (torch's global generator is left as it was).

    Returns:
        {"mae", "zero", "visible_mean"}: MSE over every hidden voxel of every volume (float).
    """
    if mae.config.norm_pix_loss:
        raise InputError("hidden_patch_errors needs an MAE that predicts intensities (norm_pix_loss=False)")
    if not 0 < masking_ratio < 1:
        raise InputError(f"masking_ratio must lie in (0, 1); got {masking_ratio}")
    mae.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        recon, hidden = mae.reconstruct(volumes.float(), masking_ratio=masking_ratio)
    hidden = hidden.expand_as(volumes).bool()
    visible_sum = torch.where(hidden, 0.0, volumes).sum(dim=(1, 2, 3, 4), keepdim=True)
    visible_mean = visible_sum / (~hidden).sum(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1)
    truth = volumes[hidden]
    return {"mae": float(((recon[hidden] - truth) ** 2).mean()),
            "zero": float((truth**2).mean()),
            "visible_mean": float(((visible_mean.expand_as(volumes)[hidden] - truth) ** 2).mean())}
