"""Run profiles: one named set of sizes per place the book runs (smoke = CPU/CI, colab = one T4, full = GPU server).

The numbers live in ``brainfm_lite/profiles/<name>.yaml`` (shipped with the package, so the CLI and researchers
get the same values as the book). A chapter or command takes a profile name plus optional overrides::

    >>> from brainfm_lite.config import load_profile
    >>> cfg = load_profile("smoke", n_subjects=4)
    >>> cfg.spacing_mm
    4.0
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import yaml

from brainfm_lite.errors import InputError

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES = ("smoke", "colab", "full")


@dataclass(frozen=True)
class Profile:
    """Sizes and switches shared by every chapter and command.

    Attributes:
        name: profile name (smoke, colab, full) or the stem of a custom YAML file.
        seed: base random seed; every cohort, split and initialisation derives from it.
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda[:k]".
        spacing_mm: isotropic voxel size of the embedded cohort grid, mm.
        n_subjects: subjects in the embedded structural cohort.
        n_sites: acquisition sites in the embedded cohort.
        n_asl_subjects: CBF maps in the embedded multi-site ASL cohort (chapter 3).
        n_asl_sites: ASL studies (sites) in that cohort.
        register: registration to MNI used by preprocessing demos: "rigid", "affine" or "none".
        num_workers: DataLoader workers.
        image_size: edge, in voxels, of the cube CBF maps are cropped or padded to for the networks (a multiple
            of the ViT patch, 16).
        mae_preset: size of the masked autoencoder ("tiny", "small", "base"; see ``MAE_PRESETS``).
        mae_steps: optimizer steps of MAE pretraining.
        mae_batch_size: samples per step of MAE pretraining and of fine-tuning.
        mae_lr: peak learning rate of MAE pretraining.
        finetune_steps: optimizer steps of each downstream fine-tuning run.
        finetune_lr: peak learning rate of fine-tuning.
        eval_seeds: seeds (label subsets, head initialisation) each downstream result is averaged over.
    """

    name: str
    seed: int
    device: str
    spacing_mm: float
    n_subjects: int
    n_sites: int
    n_asl_subjects: int
    n_asl_sites: int
    register: str
    num_workers: int
    image_size: int
    mae_preset: str
    mae_steps: int
    mae_batch_size: int
    mae_lr: float
    finetune_steps: int
    finetune_lr: float
    eval_seeds: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_profile(name_or_path: str | Path = "smoke", **overrides) -> Profile:
    """Read a profile by name (smoke, colab, full) or from a YAML path, then apply keyword overrides.

    Raises:
        InputError: unknown profile name, unreadable file, or a key that is not a `Profile` field.
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        if str(name_or_path) not in PROFILES:
            raise InputError(f"unknown profile '{name_or_path}': choose one of {', '.join(PROFILES)} or a YAML path")
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InputError(f"{path}: profile file not found")
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise InputError(f"{path}: not valid YAML ({err})") from err
    values = {**values, **overrides}
    fields = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(set(values) - fields)
    missing = sorted(fields - set(values))
    if unknown:
        raise InputError(f"{path}: unknown profile keys {unknown}; known keys are {sorted(fields)}")
    if missing:
        raise InputError(f"{path}: profile keys missing: {missing}")
    return Profile(**values)
