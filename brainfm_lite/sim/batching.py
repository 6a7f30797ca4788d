"""Stack the random draws of many subjects into one batch of tensors, for the batched (torch) simulators.

The simulators draw with numpy, one subject at a time from its own stream (`brainfm_lite.sim.streams`), into small
dataclasses (a subject's shape, perfusion, artefacts, scan noise). `collate` stacks a list of such draws into one
draw of the same class whose fields are tensors with a leading batch axis, shaped to broadcast against images
[B, X, Y, Z], so that the same simulation code runs on one numpy subject or on the batch:

- a number becomes [B, 1, 1, 1];
- an array of fewer than three axes is padded on the left: a vector [3] becomes [B, 1, 1, 3];
- an array of three axes or more is stacked as it is: an image [X, Y, Z] becomes [B, X, Y, Z];
- a string becomes a list of B strings.

Numbers and float arrays become float32, except the fields a class names in ``float64_fields`` (kept in double
where numpy computes in double); bool arrays stay bool.

    >>> batch = collate([draw_perfusion(stream_rng(0, Stream.ASL_SUBJECT, k), grid, sex="F") for k in range(8)],
    ...                 device="cuda")                                                     # doctest: +SKIP
    >>> batch.global_factor.shape, batch.regional_noise.shape                               # doctest: +SKIP
    (torch.Size([8, 1, 1, 1]), torch.Size([8, 14, 16, 14]))
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from brainfm_lite.errors import InputError


def collate(draws: list, device="cpu"):
    """One draw of the class of ``draws`` whose every field holds the batch (see the module docstring).

    Args:
        draws: dataclass instances of one class (at least one).
        device: where the tensors go.
    """
    if not draws:
        raise InputError("collate needs at least one draw")
    kind = type(draws[0])
    if not dataclasses.is_dataclass(kind) or any(type(d) is not kind for d in draws):
        kinds = sorted({type(d).__name__ for d in draws})
        raise InputError(f"collate needs dataclass instances of one class; got {kinds}")
    float64 = set(getattr(kind, "float64_fields", ()))
    fields = {field.name: stack([getattr(d, field.name) for d in draws], device,
                                torch.float64 if field.name in float64 else torch.float32)
              for field in dataclasses.fields(kind)}
    return dataclasses.replace(draws[0], **fields)


def stack(values: list, device="cpu", dtype=torch.float32):
    """One field of B draws as a batch: a list for strings, else a tensor [B, ...] (see the module docstring)."""
    if all(isinstance(v, str) for v in values):
        return list(values)
    arrays = [np.asarray(v) for v in values]
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise InputError(f"cannot stack values of different shapes {sorted(shapes)}")
    array = np.stack(arrays)
    if array.ndim < 4:  # numbers and vectors broadcast against images [B, X, Y, Z]
        array = array.reshape(array.shape[0], *(1,) * (4 - array.ndim), *array.shape[1:])
    tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)
    return tensor if tensor.dtype == torch.bool else tensor.to(dtype)


def shared(value):
    """The value every item of a batch shares: a string, or the one string of a list of equal strings."""
    if isinstance(value, str):
        return value
    if len(set(value)) != 1:
        raise InputError(f"the items of this batch must share one value; got {sorted(set(value))}")
    return value[0]
