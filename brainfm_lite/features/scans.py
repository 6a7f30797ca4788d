"""One scan file -> the network input an encoder's recipe asks for, and a torch dataset of such inputs.

Each scan is read with the package's one loader (:func:`brainfm_lite.data.io.load_volume`) and prepared by the
package's pipeline (:func:`brainfm_lite.preprocess.pipeline.preprocess`) with the options of the encoder's
`Recipe`. The dataset prepares a scan when it is asked for it, so memory holds one batch, not the whole folder.

Example:
    >>> volume = preprocess_scan("sub-01_T1w.nii.gz", read_recipe("weights/simclr_t1"))   # doctest: +SKIP
    >>> volume.shape, volume.meta["preprocess"][-1]["step"]                                  # doctest: +SKIP
    ((64, 64, 64), 'crop_or_pad')
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from brainfm_lite.data.io import load_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError
from brainfm_lite.features.recipe import Recipe
from brainfm_lite.preprocess.pipeline import preprocess


def preprocess_scan(path: str | Path, recipe: Recipe) -> Volume:
    """Load the 3D scan at `path` and prepare it as `recipe` says.

    Returns:
        A float32 Volume of ``recipe.shape`` voxels of ``recipe.spacing_mm`` mm (RAS; on the MNI152 grid when the
        recipe registers), whose ``meta["preprocess"]`` lists every step with its parameters.

    Raises:
        InputError: the file cannot be read (see `load_volume`), or preprocessing fails on it (an image too small
            or too uniform to register, mask or z-score); the message names the file.
    """
    volume = load_volume(path)
    try:
        return preprocess(volume, mask=recipe.given_mask(volume), **recipe.preprocess_options())
    except InputError as err:
        message = str(err)
        raise InputError(message if str(path) in message else f"{path}: {message}") from err
    except RuntimeError as err:  # SimpleITK's own errors (N4, registration): one line naming the file
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise InputError(f"{path}: preprocessing failed ({reason}); a scan of shape {volume.shape} may be too small "
                         f"or too uniform for {recipe.summary()}") from err


class ScanDataset(Dataset):
    """Scan files prepared by a recipe, one item per file, in the order given.

    Items are dicts as the package's other datasets give them, so that
    :func:`brainfm_lite.eval.probe.extract_features` reads them: ``image`` float32 [1, X, Y, Z] (X, Y, Z =
    ``recipe.shape``), ``targets`` {} (none), ``site`` -1 (unknown) and ``index`` (the file's position), int64.
    """

    def __init__(self, paths, recipe: Recipe):
        self.paths = [Path(p) for p in paths]
        self.recipe = recipe

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> dict:
        volume = preprocess_scan(self.paths[index], self.recipe)
        return {"image": torch.from_numpy(np.array(volume.data, dtype=np.float32)).unsqueeze(0), "targets": {},
                "site": torch.tensor(-1), "index": torch.tensor(index)}
