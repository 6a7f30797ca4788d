"""Run profiles: one named set of sizes per place the book runs (smoke = CPU/CI, reference = what the book records,
on 2 CPU cores, colab = one T4, full = GPU server).

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
PROFILES = ("smoke", "reference", "colab", "full")  # from the smallest to the largest


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
        contrastive_encoder: ViT preset shared by every method of the comparison ("tiny", "small", "base"; see
            ``models.presets.ENCODER_PRESETS``).
        contrastive_steps: optimizer steps of SimCLR and sequence-invariant pretraining.
        contrastive_batch_size: pairs of views per step (the negatives of NT-Xent: 2 x batch - 2 per view).
        contrastive_lr: peak learning rate of contrastive pretraining.
        contrastive_temperature: NT-Xent temperature.
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
    contrastive_encoder: str
    contrastive_steps: int
    contrastive_batch_size: int
    contrastive_lr: float
    contrastive_temperature: float
    cnn_widths: tuple[int, ...]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def load_profile(name_or_path: str | Path = "smoke", **overrides) -> Profile:
    """Read a profile by name (smoke, reference, colab, full) or from a YAML path, then apply keyword overrides.

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
