"""Run profiles: one named set of sizes per place the book runs (smoke = CPU/CI, reference = what the book records,
on 2 CPU cores, colab = one T4, full = GPU server).

The numbers live in ``brainfm_lite/profiles/<name>.yaml`` (shipped with the package, so the CLI and researchers
get the same values as the book). A chapter or command takes a profile name plus optional overrides::

    >>> from brainfm_lite.config import load_profile
    >>> cfg = load_profile("smoke", n_subjects=4)
    >>> cfg.spacing_mm
    4.0

Every value is converted to its field's declared type (a YAML ``3e-4`` is a string to YAML 1.1, and a list is a
list, while the field is a float or a tuple), and checked, before anything runs: a wrong type, a negative count, a
NaN rate or an unknown preset raises `InputError` naming the field.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import math
import re
import typing
from dataclasses import dataclass
from pathlib import Path

import yaml

from brainfm_lite.errors import InputError

PROFILE_DIR = Path(__file__).parent / "profiles"
PROFILES = ("smoke", "reference", "colab", "full")  # from the smallest to the largest
REGISTRATIONS = ("rigid", "affine", "none")
CONTRASTIVE_BACKBONES = ("cnn", "vit")  # see Profile.contrastive_backbone
DEVICE_PATTERN = re.compile(r"auto|cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Profile:
    """Sizes and switches shared by every chapter and command.

    Attributes:
        name: profile name (smoke, reference, colab, full) or the stem of a custom YAML file.
        seed: base random seed; every cohort, split and initialisation derives from it.
        device: "auto" (CUDA when present, else CPU), "cpu" or "cuda[:k]".
        spacing_mm: isotropic voxel size of the embedded cohort grid, mm.
        n_subjects: subjects in the embedded structural cohort.
        n_sites: acquisition sites in the embedded cohort.
        n_asl_subjects: CBF maps in the embedded multi-site ASL cohort (chapter 3).
        n_asl_sites: ASL studies (sites) in that cohort.
        register: registration to MNI used by preprocessing demos: "rigid", "affine" or "none".
        num_workers: DataLoader workers.
        cpu_bf16: let training runs that ask for bf16 autocast use it on a CPU with AMX-BF16 too. It pays for
            convolution-heavy networks of some size (the diffusion prior at 64-128^2: 2.7x faster on 2 cores) and
            costs for small ones (a tiny ViT: 1.6x slower), so the book's profiles leave it off.
        cbf_image_size: edge, in voxels, of the cube CBF maps are cropped or padded to for the MAE networks
            (a multiple of the ViT patch, 16; chapters 4-5).
        mae_preset: size of the masked autoencoder ("tiny", "small", "base"; see ``MAE_PRESETS``).
        mae_steps: optimizer steps of MAE pretraining.
        mae_batch_size: samples per step of MAE pretraining and of fine-tuning.
        mae_lr: peak learning rate of MAE pretraining.
        finetune_steps: optimizer steps of each downstream fine-tuning run.
        finetune_lr: peak learning rate of fine-tuning.
        eval_seeds: seeds (label subsets, head initialisation) each downstream result is averaged over.
        recon_spacing_mm: grid spacing of the cohort the 2D reconstruction slices come from, mm (chapter 8).
        recon_image_size: edge, in pixels, of the square axial slices for reconstruction (a multiple of 16).
        recon_source_subjects: subjects whose T1w, T2w and PDw slices pretrain the diffusion prior.
        recon_target_subjects: subjects whose FLAIR slices fine-tune it (the stroke DPM paper's 20).
        recon_many_subjects: other subjects' FLAIR slices, the upper reference's training set.
        recon_test_subjects: FLAIR test subjects, all from a site no training group saw.
        recon_slices_per_subject: axial slices taken from the central part of each subject's brain.
        recon_coils: receive coils of the simulated multi-coil acquisition.
        diffusion_preset: size of the diffusion prior's U-Net ("tiny", "small", "base"; see ``DIFFUSION_PRESETS``).
        diffusion_timesteps: T, the noise-schedule steps the prior is trained on (and DDPM samples over).
        diffusion_steps: optimizer steps of every prior trained from scratch (source pretraining, target-only,
            many-target) and of the supervised U-Net.
        diffusion_batch_size: slices per step of those runs and of fine-tuning.
        diffusion_lr: peak learning rate of training from scratch.
        diffusion_ema_decay: decay of the weight average the priors are saved, fine-tuned and sampled with.
        diffusion_finetune_steps: optimizer steps of fine-tuning the pretrained prior on the target subjects.
        diffusion_finetune_lr: its constant learning rate (reduced, as in the stroke DPM paper).
        diffusion_sweep_lrs: fine-tuning learning rates of the rate x duration sweep.
        diffusion_sweep_steps: fine-tuning durations (optimizer steps) of the sweep.
        ddim_steps: DDIM sampling steps of every diffusion reconstruction in the experiments.
        recon_eval_slices: test slices every reconstruction method is scored on.
        dense_volume_size: edge, in voxels, of the cube the dense tasks' T1 images are cropped or padded to (larger
            than the encoder's input: sliding windows cover it; chapter 7).
        dense_steps: optimizer steps of each dense-task training run (segmentation, denoising).
        dense_batch_size: volumes per step of the dense tasks.
        dense_lr: peak learning rate of the dense tasks.
        dense_feature_size: dense decoder width (channels) at full resolution.
        seqinv_steps: optimizer steps of each sequence-invariant variant pretrained in chapter 7 (the comparison
            of `eval.comparison` uses ``contrastive_steps`` for every method).
        contrastive_subjects: subjects of the structural cohort (``n_sites`` sites) that contrastive pretraining and
            the structural tasks use (chapters 6-7): more than ``n_subjects``, so that every fold has test subjects.
        contrastive_image_size: edge, in voxels, of the cube structural T1 images are cropped or padded to for
            contrastive pretraining and the structural tasks (a multiple of the encoder preset's patch; chapters 6-7).
        contrastive_backbone: the backbone every contrastive method and the from-scratch baseline of chapters 6-7
            train: "cnn" (the compact 3D CNN of ``contrastive_cnn_widths``, channels-last; the papers' kind of
            backbone, on which SimCLR learns at CPU batch sizes) or "vit" (the ViT of ``contrastive_encoder``, kept
            as a variant). The structural MAE is always the ViT (masking needs tokens).
        contrastive_cnn_widths: channels of each stride-2 stage of that CNN (``contrastive_image_size`` must be a
            multiple of 2 ** len(widths): the dense tasks' U-Net decoder needs exact halvings).
        contrastive_encoder: ViT preset of the structural MAE and of the "vit" backbone ("tiny", "small", "base";
            see ``models.presets.ENCODER_PRESETS``).
        contrastive_steps: optimizer steps of SimCLR and sequence-invariant pretraining.
        contrastive_batch_size: pairs of views per step (the negatives of NT-Xent: 2 x batch - 2 per view).
        contrastive_lr: peak learning rate of contrastive pretraining.
        contrastive_temperature: NT-Xent temperature.
        simclr_min_crop_fraction: smallest crop edge of SimCLR's views of the structural cohort, as a fraction of the
            volume's edge (`SimCLRViewConfig.min_crop_fraction`). The seed's 0.2 suits real brains; every subject of
            the simulated cohort is one template deformed, and crops that small leave SimCLR near chance (reference,
            150 steps: NT-Xent 2.63 at 0.2, 1.72 at 0.7, chance 2.71; ``benchmarks/bench_simclr_views.py``).
        cnn_widths: channels of each stride-2 stage of the compact 3D CNN (``EncoderConfig(kind="cnn")``) that
            SimCLR trains on the CBF maps (chapter 5's rival: 3D-Neuro-SimCLR pretrains a 3D CNN, not a ViT).
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
    cpu_bf16: bool
    cbf_image_size: int
    mae_preset: str
    mae_steps: int
    mae_batch_size: int
    mae_lr: float
    finetune_steps: int
    finetune_lr: float
    eval_seeds: int
    recon_spacing_mm: float
    recon_image_size: int
    recon_source_subjects: int
    recon_target_subjects: int
    recon_many_subjects: int
    recon_test_subjects: int
    recon_slices_per_subject: int
    recon_coils: int
    diffusion_preset: str
    diffusion_timesteps: int
    diffusion_steps: int
    diffusion_batch_size: int
    diffusion_lr: float
    diffusion_ema_decay: float
    diffusion_finetune_steps: int
    diffusion_finetune_lr: float
    diffusion_sweep_lrs: tuple[float, ...]
    diffusion_sweep_steps: tuple[int, ...]
    ddim_steps: int
    recon_eval_slices: int
    dense_volume_size: int
    dense_steps: int
    dense_batch_size: int
    dense_lr: float
    dense_feature_size: int
    seqinv_steps: int

    contrastive_subjects: int
    contrastive_image_size: int
    contrastive_backbone: str
    contrastive_cnn_widths: tuple[int, ...]
    contrastive_encoder: str
    contrastive_steps: int
    contrastive_batch_size: int
    contrastive_lr: float
    contrastive_temperature: float
    simclr_min_crop_fraction: float
    cnn_widths: tuple[int, ...]

    def __post_init__(self):
        for name in _field_types():
            object.__setattr__(self, name, check_value(name, getattr(self, name)))  # frozen: set once, here
        _check_sizes(self)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@functools.lru_cache(maxsize=1)
def _field_types() -> dict[str, type]:
    return typing.get_type_hints(Profile)


@functools.lru_cache(maxsize=1)
def _presets():
    """The size presets, read from models/presets.py without importing brainfm_lite.models (which loads torch)."""
    spec = importlib.util.spec_from_file_location("_brainfm_presets", Path(__file__).parent / "models" / "presets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _choices() -> dict[str, tuple[str, ...]]:
    """The fields with a few allowed values, and those values."""
    presets = _presets()
    return {"register": REGISTRATIONS, "contrastive_backbone": CONTRASTIVE_BACKBONES,
            "mae_preset": tuple(presets.MAE_PRESETS),
            "contrastive_encoder": tuple(presets.ENCODER_PRESETS), "diffusion_preset": tuple(presets.DIFFUSION_PRESETS)}


# Integer fields that may be 0; every other integer counts something that must be there (>= 1).
_MAY_BE_ZERO = {"seed", "num_workers"}
# Real fields that must be > 0, besides every learning rate (``*_lr``, ``*_lrs``).
_POSITIVE = {"spacing_mm", "recon_spacing_mm", "contrastive_temperature", "simclr_min_crop_fraction"}


def check_value(name: str, value):
    """`value` converted to the declared type of the Profile field `name`, and checked.

    Strings are parsed by the field's type (``"3e-4"`` for a float, ``"[8, 16]"`` or ``"8,16"`` for a tuple,
    ``"true"`` for a bool), so a command line's ``--set KEY=VALUE`` and a YAML file get the same treatment;
    lists become tuples.

    Raises:
        InputError: unknown field, a value of another type, or one out of the field's range, naming the field.
    """
    types = _field_types()
    if name not in types:
        raise InputError(f"unknown profile key {name!r}; known keys are {sorted(types)}")
    value = _convert(name, value, types[name])
    requirement = _requirement(name, value)
    if requirement:
        raise InputError(f"{name} must be {requirement}, got {value!r}")
    return value


def _convert(name: str, value, hint):
    """`value` as the type `hint` (int, float, bool, str, tuple[T, ...]); InputError naming `name` otherwise."""
    if typing.get_origin(hint) is tuple:
        if isinstance(value, str):
            parsed = _yaml_scalar(value) if value.strip().startswith("[") else None
            value = parsed if isinstance(parsed, list) else [part for part in value.split(",") if part.strip()]
        if not isinstance(value, (list, tuple)) or not value:
            raise InputError(f"{name} must be a non-empty list of {_type_words(typing.get_args(hint)[0], plural=True)}"
                             f", got {value!r}")
        return tuple(_convert(f"{name}[{k}]", item, typing.get_args(hint)[0]) for k, item in enumerate(value))
    if isinstance(value, str) and hint is not str:
        value = _from_text(value.strip(), hint)
    ok = (isinstance(value, hint) and not (hint is not bool and isinstance(value, bool))) or \
        (hint is float and isinstance(value, int) and not isinstance(value, bool))
    if not ok:
        raise InputError(f"{name} must be {_type_words(hint)}, got {value!r}")
    if hint is float:
        value = float(value)
        if not math.isfinite(value):
            raise InputError(f"{name} must be a finite number, got {value!r}")
    if hint is str and not value.strip():
        raise InputError(f"{name} must be a non-empty string, got {value!r}")
    return value


def _from_text(text: str, hint):
    """A command-line or YAML string as `hint`; the string itself when it does not parse (the type check then
    reports it)."""
    try:
        if hint is int:
            return int(text)
        if hint is float:
            return float(text)
    except ValueError:
        return text
    if hint is bool and text.lower() in ("true", "false", "yes", "no", "on", "off"):
        return text.lower() in ("true", "yes", "on")
    return text


def _yaml_scalar(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None


def _type_words(hint, plural: bool = False) -> str:
    if plural:
        return {int: "integers", float: "numbers", bool: "true/false values", str: "strings"}.get(hint, str(hint))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(hint, str(hint))


def _requirement(name: str, value) -> str | None:
    """What `value` of the field `name` fails to be, in words; None when it is fine."""
    choices = _choices()
    if name in choices and value not in choices[name]:
        return f"one of {', '.join(choices[name])}"
    if name == "device" and not DEVICE_PATTERN.fullmatch(value):
        return '"auto", "cpu", "cuda", "cuda:<index>" or "mps"'
    numbers = value if isinstance(value, tuple) else (value,)
    if all(isinstance(v, int) and not isinstance(v, bool) for v in numbers):
        lowest = 0 if name in _MAY_BE_ZERO else 1
        if min(numbers) < lowest:
            return f"{'integers' if isinstance(value, tuple) else 'an integer'} >= {lowest}"
    if all(isinstance(v, float) for v in numbers):
        if name == "diffusion_ema_decay" and not 0.0 <= value < 1.0:
            return "in [0, 1)"
        if (name in _POSITIVE or name.endswith(("_lr", "_lrs"))) and min(numbers) <= 0:
            return "positive"
    return None


def _check_sizes(profile: Profile) -> None:
    """Sizes that must fit the networks' patches and levels (checked here so that a run fails before simulating)."""
    presets = _presets()
    multiples = [("cbf_image_size", presets.MAE_PRESETS[profile.mae_preset]["patch_size"], "the MAE preset's patch"),
                 ("contrastive_image_size", presets.ENCODER_PRESETS[profile.contrastive_encoder]["patch_size"],
                  "the patch of the contrastive encoder preset, the structural MAE's ViT"),
                 ("recon_image_size", 16, "the diffusion U-Net's halvings")]
    if profile.contrastive_backbone == "cnn":
        multiples.append(("contrastive_image_size", 2 ** len(profile.contrastive_cnn_widths),
                          "2 ** len(contrastive_cnn_widths): the CNN halves it once a stage"))
    for name, multiple, why in multiples:
        if getattr(profile, name) % multiple:
            raise InputError(f"{name} must be a multiple of {multiple} ({why}), got {getattr(profile, name)}")


def _one_line(err: Exception) -> str:
    """A YAML error as "line L, column C: problem" (PyYAML's own message spans lines, with a caret drawing)."""
    mark, problem = getattr(err, "problem_mark", None), getattr(err, "problem", None)
    if mark is not None and problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    return " ".join(str(err).split())


def load_profile(name_or_path: str | Path = "smoke", **overrides) -> Profile:
    """Read a profile by name (smoke, reference, colab, full) or from a YAML path, then apply keyword overrides.

    Values, the file's and the overrides', are converted to each field's type and checked (`check_value`); an
    override may be a string, as typed on a command line (``mae_lr="3e-4"``).

    Raises:
        InputError: unknown profile name, unreadable file, a file that is not a mapping of keys to values, a key
            that is not a `Profile` field, or a value of the wrong type or out of range (naming the field, and
            whether it came from the file or an override).
    """
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        if str(name_or_path) not in PROFILES:
            raise InputError(f"unknown profile '{name_or_path}': choose one of {', '.join(PROFILES)} or a YAML path")
        path = PROFILE_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise InputError(f"{path}: profile file not found")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError, OSError) as err:
        raise InputError(f"{path}: not valid YAML ({_one_line(err)})") from err
    if not isinstance(values, dict):
        raise InputError(f"{path}: a profile is a mapping of keys to values, got {type(values).__name__}")
    fields = {f.name for f in dataclasses.fields(Profile)}
    unknown = sorted(str(key) for key in set(values) | set(overrides) if key not in fields)
    missing = sorted(fields - set(values) - set(overrides))
    if unknown:
        raise InputError(f"{path}: unknown profile keys {unknown}; known keys are {sorted(fields)}")
    if missing:
        raise InputError(f"{path}: profile keys missing: {missing}")
    for name, value in overrides.items():
        try:
            overrides[name] = check_value(name, value)
        except InputError as err:
            raise InputError(f"override {err} (profile {path})") from None
    try:
        return Profile(**{**values, **overrides})
    except InputError as err:
        raise InputError(f"{path}{' with its overrides' if overrides else ''}: {err}") from None


def default_profile() -> str:
    """The profile a chapter runs at when nobody chose one: "colab" where a CUDA GPU is present (Colab's T4 runtime),
    "smoke" elsewhere (a laptop CPU, about a minute a chapter).

    The chapters' parameters cell sets ``profile_name = None`` and resolves it with
    ``profile_name or default_profile()``, so a profile that papermill injects (the book runner always injects one)
    or that the reader types still wins.
    """
    import torch

    return "colab" if torch.cuda.is_available() else "smoke"
