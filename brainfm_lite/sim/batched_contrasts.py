"""Many simulated contrasts at once, on a torch device: one per sequence, of one subject or of one subject each.

`~brainfm_lite.sim.qmri.simulate_contrast` gives the image one sequence makes of one subject's qMRI; its signal
equations already run on torch tensors. `simulate_contrasts` feeds it batches: the subjects' maps stacked into
tensors [B, X, Y, Z] (or one subject's maps, shared), and the sequences' parameters stacked into tensors
[B, 1, 1, 1], one batch per sequence kind (each kind has its own equation). So there is one implementation of each
equation, and the images equal ``simulate_contrast``'s (numpy) to float32 rounding
(``tests/sim/test_batched_contrasts.py``: rtol 1e-4, absolute 1e-5 of the image's largest value).

    >>> compartments = qmri_compartments(subject)                                            # doctest: +SKIP
    >>> sequences = [sample_sequence(rng) for _ in range(32)]                                 # doctest: +SKIP
    >>> images = simulate_contrasts(compartments, sequences, device="cuda")  # [32, X, Y, Z]  # doctest: +SKIP
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
import torch

from brainfm_lite.errors import InputError
from brainfm_lite.physics.sequences import Sequence
from brainfm_lite.sim.qmri import Compartments, preset, simulate_contrast


def simulate_contrasts(qmri, sequences, *, device="cpu", dtype=torch.float32) -> torch.Tensor:
    """The image each sequence gives of its subject's qMRI (noise-free), as one batch on ``device``.

    Args:
        qmri: One subject's qMRI, imaged by every sequence: :class:`~brainfm_lite.sim.qmri.Compartments` (the sum of
            the tissues' signals) or a mapping of voxelwise maps ("pd", "r1", ...), numpy or torch [X, Y, Z]; or a
            list of them, one subject per sequence (all of one grid, all compartments or all voxelwise maps).
        sequences: B sequences (:class:`~brainfm_lite.physics.sequences.Sequence` or preset names), of any kinds.
        device: Where to compute.
        dtype: Floating dtype of the computation (float32, or float64 for a reference).

    Returns:
        torch.Tensor [B, X, Y, Z]: image b is ``simulate_contrast(qmri[b], sequences[b])``.
    """
    sequences = [preset(s) if isinstance(s, str) else s for s in sequences]
    if not sequences:
        raise InputError("simulate_contrasts needs at least one sequence")
    per_item = isinstance(qmri, list)
    if per_item and len(qmri) != len(sequences):
        raise InputError(f"got {len(qmri)} subjects' qMRI for {len(sequences)} sequences; give one each, or one")
    maps = _stack(qmri if per_item else [qmri], device, dtype)
    images = None
    for positions, sequence in _sequence_batches(sequences, device, dtype):
        image = simulate_contrast(_select(maps, positions) if per_item else _select(maps, [0]), sequence)
        if images is None:
            images = torch.empty((len(sequences), *image.shape[1:]), dtype=image.dtype, device=image.device)
        images[positions] = image
    return images


def _sequence_batches(sequences: list[Sequence], device, dtype):
    """(positions, Sequence whose parameters are tensors [b, 1, 1, 1]) for each kind and set of parameters."""
    groups = defaultdict(list)
    for position, sequence in enumerate(sequences):
        groups[(sequence.kind, tuple(sorted(sequence.params)))].append(position)
    for (kind, names), positions in groups.items():
        params = {name: torch.tensor([float(sequences[p].params[name]) for p in positions], dtype=dtype,
                                     device=device).reshape(-1, 1, 1, 1) for name in names}
        yield positions, Sequence(kind, params)


def _stack(items: list, device, dtype):
    """Compartments or voxelwise maps of B subjects (numpy or torch [X, Y, Z]) as one of tensors [B, X, Y, Z]."""
    def tensors(arrays):
        return torch.stack([torch.as_tensor(np.asarray(a) if not isinstance(a, torch.Tensor) else a)
                            .to(device=device, dtype=dtype) for a in arrays])

    if all(isinstance(item, Compartments) for item in items):
        tissues = list(dict.fromkeys(t for item in items for t in item.fractions))
        names = list(next(iter(items[0].maps.values())))
        fractions, maps = {}, {}
        for tissue in tissues:
            # A tissue some subjects lack (a lesion) has fraction 0 there, and valid maps, so it adds exactly 0.
            fractions[tissue] = tensors([item.fractions.get(tissue, _zeros(item)) for item in items])
            maps[tissue] = {name: tensors([_tissue_maps(item, tissue)[name] for item in items]) for name in names}
        return Compartments(fractions, maps)
    if all(isinstance(item, Mapping) for item in items):
        keys = set(items[0])
        if any(set(item) != keys for item in items):
            raise InputError(f"every subject's voxelwise maps need the same names; got {[sorted(i) for i in items]}")
        return {name: tensors([item[name] for item in items]) for name in items[0]}
    raise InputError("qmri must be Compartments or voxelwise maps (a mapping), or a list of one kind of them")


def _zeros(item: Compartments):
    return np.zeros(np.shape(next(iter(item.fractions.values()))), dtype=np.float32)


def _tissue_maps(item: Compartments, tissue: str) -> dict:
    """The maps of ``tissue`` in ``item``, or another tissue's (valid values) when the subject lacks it."""
    return item.maps.get(tissue, next(iter(item.maps.values())))


def _select(maps, positions: list[int]):
    """The items ``positions`` of stacked compartments or maps."""
    if isinstance(maps, Compartments):
        return Compartments({t: f[positions] for t, f in maps.fractions.items()},
                            {t: {name: v[positions] for name, v in m.items()} for t, m in maps.maps.items()})
    return {name: values[positions] for name, values in maps.items()}
