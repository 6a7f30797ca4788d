"""numpy / torch dispatch shared by the physics modules.

The signal equations are written once, against a small "array namespace" (``numpy`` or ``torch``: both have
``exp``, ``expm1``, ``sin``, ``cos``, ``abs``, ``where``). ``to_common`` decides which one to use: torch as soon
as any argument is a tensor (on that tensor's device and dtype, so gradients flow and GPUs work), numpy otherwise.
"""

from __future__ import annotations

import numpy as np
import torch

from brainfm_lite.errors import InputError


def to_common(*values):
    """Convert every value to the same array kind.

    Args:
        *values (float, array_like or torch.Tensor): Maps and sequence parameters, broadcastable to each other.

    Returns:
        xp : module: ``torch`` if any value is a tensor, else ``numpy``.
        arrays : tuple: The values as tensors (device and floating dtype of the first tensor given), or for numpy as
            python floats (scalars) and floating arrays (float32 stays float32; integer arrays become float64).
    """
    first_tensor = next((v for v in values if isinstance(v, torch.Tensor)), None)
    if first_tensor is None:
        return np, tuple(_as_numpy_float(v) for v in values)
    dtype = first_tensor.dtype if first_tensor.is_floating_point() else torch.get_default_dtype()
    device = first_tensor.device
    return torch, tuple(torch.as_tensor(v, dtype=dtype, device=device) for v in values)


def _as_numpy_float(value):
    if isinstance(value, (int, float)):
        return float(value)  # a python scalar keeps the arrays' precision (float32 maps stay float32)
    array = np.asarray(value)
    if np.issubdtype(array.dtype, np.floating):
        return array
    return array.astype(np.float64)


def value_range(x) -> tuple[float, float]:
    """(min, max) of an array or tensor as python floats; cheap and outside the autograd graph."""
    if isinstance(x, torch.Tensor):
        x = x.detach()
        return float(x.min()), float(x.max())
    x = np.asarray(x)
    return float(x.min()), float(x.max())


def check_range(x, name: str, *, low: float | None = None, high: float | None = None,
                low_inclusive: bool = True, high_inclusive: bool = True, unit: str = "") -> None:
    """Raise InputError unless every element of ``x`` lies in the interval [low, high] (ends as chosen).

    NaN elements are not checked (they propagate as NaN, as in numpy); an empty array passes.
    """
    if _size(x) == 0:
        return
    lowest, highest = value_range(x)
    too_low = low is not None and (lowest < low if low_inclusive else lowest <= low)
    too_high = high is not None and (highest > high if high_inclusive else highest >= high)
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        interval = f"{left}{'-inf' if low is None else low}, {'inf' if high is None else high}{right}"
        unit_text = f" {unit}" if unit else ""
        raise InputError(
            f"{name} must lie in {interval}{unit_text}; got values from {lowest:g} to {highest:g}{unit_text}"
        )


def _size(x) -> int:
    return x.numel() if isinstance(x, torch.Tensor) else np.size(x)


def one_minus_exp(xp, x):
    """1 - exp(-x), accurate for small x (where 1 - exp(-x) would lose digits in float32)."""
    return -xp.expm1(-x)


def clip(xp, x, low=None, high=None):
    """Limit ``x`` to [low, high]; the bounds may be floats or arrays of the same kind as ``x``."""
    if xp is torch:
        return torch.clamp(x, min=low, max=high)
    return np.clip(x, low, high)


# ----------------------------------------------------------------------------------------------------------------
# Array helpers of the simulators (brainfm_lite.sim), so that one implementation runs on one numpy image [X, Y, Z]
# and on a torch batch [B, X, Y, Z] whose per-item numbers are tensors [B, 1, 1, 1]. Each numpy branch is the
# expression the simulators always used, so the numpy path gives the same bits as before.


def namespace(*values):
    """``torch`` if any value is a tensor, else ``numpy`` (without converting anything)."""
    return torch if any(isinstance(v, torch.Tensor) for v in values) else np


def as_float32(x):
    """A float32 copy of an array, or ``x`` as float32 for a tensor."""
    return x.float() if isinstance(x, torch.Tensor) else np.asarray(x).astype(np.float32)


def maximum(x, y):
    """Element-wise maximum of two arrays, or of an array and a number (numpy ``np.maximum``); of two python
    numbers, the python number ``max`` gives (so that it keeps python's double precision next to float32 arrays)."""
    if isinstance(x, (int, float)) and isinstance(y, (int, float)):
        return max(x, y)
    if isinstance(x, torch.Tensor) or isinstance(y, torch.Tensor):
        if not isinstance(y, torch.Tensor):
            return torch.clamp(x, min=y)
        if not isinstance(x, torch.Tensor):
            return torch.clamp(y, min=x)
        return torch.maximum(x, y)
    return np.maximum(x, y)


def spatial_sum(x, *, float64: bool = False):
    """Sum over the image: numpy ``x.sum()`` (a number); a tensor [..., X, Y, Z] gives one sum per item [..., 1, 1, 1].

    ``float64`` accumulates in double (numpy ``sum(dtype=float64)``).
    """
    if isinstance(x, torch.Tensor):
        return (x.double() if float64 else x).sum(dim=(-3, -2, -1), keepdim=True)
    return x.sum(dtype=np.float64) if float64 else np.sum(x)


def spatial_std(x):
    """Population standard deviation over the image: numpy ``float(x.std())``; per item [..., 1, 1, 1] for a tensor."""
    if isinstance(x, torch.Tensor):
        return x.std(dim=(-3, -2, -1), keepdim=True, correction=0)
    return float(x.std())


def per_item(values, mask, statistic: str):
    """``statistic`` ("mean", "std" or "median") of ``values[mask]``: numpy's own (a numpy number) for numpy arrays
    [X, Y, Z], and for tensors [B, X, Y, Z] one per item, float64 [B, 1, 1, 1] (std: population; median: numpy's,
    the mean of the two middle values of an even count). ``values`` may broadcast against ``mask``."""
    if not isinstance(mask, torch.Tensor):
        selected = np.broadcast_to(values, np.shape(mask))[mask]
        return {"mean": np.mean, "std": np.std, "median": np.median}[statistic](selected)
    values = torch.broadcast_to(torch.as_tensor(values, device=mask.device), mask.shape)
    out = []
    for item_values, item_mask in zip(values, mask):
        selected = item_values[item_mask].double()
        if statistic == "std":
            out.append(selected.std(correction=0))
        else:
            out.append(selected.mean() if statistic == "mean" else torch.quantile(selected, 0.5))
    return torch.stack(out).reshape(-1, 1, 1, 1)


def to_float(x):
    """A python float of a numpy number; a tensor (one number per item of a batch) stays a tensor."""
    return x if isinstance(x, torch.Tensor) else float(x)
