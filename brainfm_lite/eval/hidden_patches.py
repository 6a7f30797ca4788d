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
def masked_reconstruction(mae, volumes: torch.Tensor, *, masking_ratio: float = 0.75,
                          seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`MAE.reconstruct` with a seeded patch draw (torch's global generator is left as it was), in eval mode.

    Args:
        mae: a `~brainfm_lite.models.mae.MAE`.
        volumes: [B, C, X, Y, Z] at the MAE's image size.
        masking_ratio: fraction of patches hidden, in (0, 1).
        seed: seeds which patches are hidden.

    Returns:
        recon [B, C, X, Y, Z] (visible patches copied, hidden ones predicted) and hidden [B, 1, X, Y, Z] (1 in
        hidden patches).
    """
    if not 0 < masking_ratio < 1:
        raise InputError(f"masking_ratio must lie in (0, 1); got {masking_ratio}")
    mae.eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return mae.reconstruct(volumes.float(), masking_ratio=masking_ratio)


def errors_on_hidden(volumes: torch.Tensor, recon: torch.Tensor, hidden: torch.Tensor) -> dict[str, float]:
    """MSE over the hidden voxels of a reconstruction and of the two untrained predictors (module docstring).

    Args:
        volumes: [B, C, X, Y, Z] the truth.
        recon: [B, C, X, Y, Z] the MAE's reconstruction.
        hidden: [B, 1, X, Y, Z], 1 in hidden patches.

    Returns:
        {"mae", "zero", "visible_mean"}: MSE over every hidden voxel of every volume (float).
    """
    hidden = hidden.expand_as(volumes).bool()
    visible_sum = torch.where(hidden, 0.0, volumes).sum(dim=(1, 2, 3, 4), keepdim=True)
    visible_mean = visible_sum / (~hidden).sum(dim=(1, 2, 3, 4), keepdim=True).clamp(min=1)
    truth = volumes[hidden]
    return {"mae": float(((recon[hidden] - truth) ** 2).mean()),
            "zero": float((truth**2).mean()),
            "visible_mean": float(((visible_mean.expand_as(volumes)[hidden] - truth) ** 2).mean())}


def hidden_patch_errors(mae, volumes: torch.Tensor, *, masking_ratio: float = 0.75, seed: int = 0) -> dict[str, float]:
    """`errors_on_hidden` of `masked_reconstruction`: the MAE against predicting 0 and each volume's visible mean.

    Args:
        mae: a `~brainfm_lite.models.mae.MAE` (not trained with ``norm_pix_loss``: its output is intensities).
        volumes: [B, C, X, Y, Z] at the MAE's image size, in the units it was trained on.
        masking_ratio: fraction of patches hidden, in (0, 1).
        seed: seeds the patch draw.

    Returns:
        {"mae", "zero", "visible_mean"}: MSE over every hidden voxel of every volume (float).
    """
    if mae.config.norm_pix_loss:
        raise InputError("hidden_patch_errors needs an MAE that predicts intensities (norm_pix_loss=False)")
    volumes = volumes.float()
    recon, hidden = masked_reconstruction(mae, volumes, masking_ratio=masking_ratio, seed=seed)
    return errors_on_hidden(volumes, recon, hidden)
