"""Scans -> encoder features: each scan prepared as the encoder's pretraining data were, then embedded.

    encoder folder -> recipe (config.json) + encoder (hub) ; INPUT... -> scan files -> all read and checked
    -> for each batch: load_volume -> preprocess(recipe) -> encoder -> [N, D] features with the file names

The recipe (`brainfm_lite.features.recipe`) decides every preprocessing choice; an encoder that does not record
one is refused. The embedding is :func:`brainfm_lite.eval.probe.extract_features`, the loop the linear probes use:
the encoder in eval mode, no gradients, the vector its ``forward`` returns (a ViT's mean patch token, a CNN's pooled
features).

Example:
    >>> table = features_from_scans("book/results/reference/weights/mae_cbf", ["derivatives/brainfm_lite"])
    ...                                                                                    # doctest: +SKIP
    >>> table.to_csv("cbf_features.csv")                                                   # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import nn

from brainfm_lite.errors import InputError
from brainfm_lite.eval.probe import extract_features
from brainfm_lite.features.inputs import check_scans, expand_inputs
from brainfm_lite.features.recipe import Recipe, read_recipe
from brainfm_lite.features.scans import ScanDataset
from brainfm_lite.features.table import FeatureTable
from brainfm_lite.models.encoders import Encoder
from brainfm_lite.models.hub import pretrained_encoder
from brainfm_lite.provenance import resolve_device


def features_from_scans(encoder: str | Path | nn.Module, inputs, *, recipe: Recipe | dict | None = None,
                        batch_size: int = 8, device: str = "auto") -> FeatureTable:
    """One feature vector per scan, from scans prepared as the encoder's pretraining data were.

    Every input is found and read (:func:`brainfm_lite.data.io.load_volume`) before any preprocessing, so a bad
    file fails the call at once, naming each bad file.

    Args:
        encoder: a folder written by ``save_pretrained`` or ``export_weights`` (an `Encoder`, or an objective such
            as the MAE whose ``encoder()`` is taken) whose config.json records the recipe; or an `Encoder` module,
            then with `recipe`.
        inputs: NIfTI files (``.nii``, ``.nii.gz``) and BIDS roots (their ``*_T1w`` scans, or ``*_cbf`` maps when
            the recipe's modality is "CBF"; see `brainfm_lite.features.inputs`). A CBF map is in mL/100 g/min.
        recipe: the `Recipe` (or its dict) for an `Encoder` module; must be None with a folder, whose own recipe
            is used.
        batch_size: scans embedded together (>= 1).
        device: "auto" (CUDA when present, else the CPU), "cpu", "cuda", "cuda:<k>" or "mps".

    Returns:
        A `FeatureTable`: the files in input order (a BIDS root's sorted) and their features [N, D] float32.

    Raises:
        InputError: no recipe or an invalid one, an encoder whose input size or channels differ from the recipe,
            a missing or unreadable input, an input that preprocessing cannot handle, a bad batch size or device.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InputError(f"batch_size must be a positive integer; got {batch_size!r}")
    torch_device = resolve_device(device)
    model, recipe = _encoder_and_recipe(encoder, recipe)
    paths = expand_inputs(inputs, modality=recipe.modality)
    check_scans(paths, recipe)
    features, _, _ = extract_features(model, ScanDataset(paths, recipe), batch_size=batch_size, device=torch_device)
    return FeatureTable(files=[str(p) for p in paths], features=features.astype(np.float32))


def _encoder_and_recipe(encoder, recipe) -> tuple[Encoder, Recipe]:
    """The encoder module and its recipe, checked to fit each other."""
    if isinstance(encoder, nn.Module):
        if recipe is None:
            raise InputError(f"an encoder module ({type(encoder).__name__}) needs recipe=: the preprocessing its "
                             "pretraining data had (brainfm_lite.features.Recipe)")
        recipe = recipe if isinstance(recipe, Recipe) else Recipe.from_dict(recipe)
        model, label = encoder, f"the {type(encoder).__name__} given"
    elif isinstance(encoder, (str, Path)):
        if recipe is not None:
            raise InputError(f"{encoder}: an encoder folder brings its own recipe (config.json); leave recipe= out")
        folder = Path(encoder).expanduser()
        recipe = read_recipe(folder)  # first: a folder without a recipe is refused before its weights are read
        try:
            model, label = pretrained_encoder(folder), str(folder)
        except AttributeError as err:  # an objective without encoder(): a diffusion prior, say
            raise InputError(f"{folder}: holds no encoder ({err})") from err
    else:
        raise InputError(f"encoder must be a folder or an Encoder module; got {type(encoder).__name__}")
    if not isinstance(model, Encoder):
        raise InputError(f"{label}: holds a {type(model).__name__}, not an encoder (brainfm_lite.models.Encoder)")
    config = model.config
    if config.in_channels != 1:
        raise InputError(f"{label}: takes {config.in_channels} channels; scans give one")
    if tuple(config.img_size) != recipe.shape:
        raise InputError(f"{label}: takes volumes of {tuple(config.img_size)} voxels but its recipe prepares "
                         f"{recipe.shape}; the recipe's shape must be the encoder's input size")
    return model, recipe
