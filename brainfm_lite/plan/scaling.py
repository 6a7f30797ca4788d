"""Measure a chapter's step at the profile's image size, or at a reduced one when that is too heavy for a CPU, and
scale the result to the real size.

A step is first measured at the smallest image size its network takes (a probe: milliseconds). From the probe the
cost at the real size is extrapolated; when that stays under `MAX_MEASURED_FLOPS` the step is measured at the real
size (exact, nothing scaled). Otherwise it is measured at the largest multiple of the probe's size that stays under,
and scaled to the real size by voxel count:

- FLOPs: convolutions and per-token linear layers grow with the voxel count (exact for these networks, whose sizes
  are multiples of every stride); attention products (``bmm``) with its square (exact for self-attention over all
  tokens); the few layers on pooled features (heads, projectors) do not grow at all and come out overestimated;
- activations: tensor by tensor, each saved (or, for inference, each created) tensor's bytes as a power of the voxel
  count fitted through the two measured sizes (the probe and the reduced one): exact for feature maps (power 1),
  attention maps (2) and what does not grow (0); an inference step's peak is found by replaying the order in which
  its tensors appeared and were freed with those sizes. Steps without attention (convolutional networks), for
  which the probe alone is within the budget, are scaled linearly from it; steps with attention are always
  measured at a second size, twice the probe's, even above the budget.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

from brainfm_lite.config import Profile
from brainfm_lite.models.presets import ENCODER_PRESETS, MAE_PRESETS
from brainfm_lite.plan.measure import StepCost, extrapolated_activations, measure_step, scale_cost
from brainfm_lite.plan.steps import INFERENCE_STEPS, TRAINING_STEPS, ModelStep
from brainfm_lite.train.rng import seeded_init

# The most FLOPs (forward and backward of the measured batch) a step is measured at on the CPU; above it, a reduced
# image size. At about 20 GFLOP/s a core (measured: a 12 GFLOP dense step in 0.6 s of CPU time) a step is measured
# within about 2 s of CPU time; 40 measures a ViT-B at 64^3 (65 tokens), not at 32^3 (9, where the class token
# would make the linear scaling 12 % high).
MAX_MEASURED_FLOPS = 40e9
# The profile field that sets each step's image size (edge in voxels), and the spatial dimensions of its images.
STEP_SIZE_FIELDS = {
    "mae_cbf": "cbf_image_size", "simclr_cbf": "cbf_image_size", "finetune_mae_cbf": "cbf_image_size",
    "finetune_simclr_cbf": "cbf_image_size", "simclr": "contrastive_image_size", "seqinv": "contrastive_image_size",
    "mae_structural": "contrastive_image_size", "finetune_structural": "contrastive_image_size",
    "dense_segmentation": "contrastive_image_size", "dense_denoising": "contrastive_image_size",
    "diffusion_prior": "recon_image_size", "supervised_unet": "recon_image_size",
    "posterior_sampling": "recon_image_size",
}
SPATIAL_DIMS = {"cbf_image_size": 3, "contrastive_image_size": 3, "recon_image_size": 2}
# 2D slices: the supervised U-Net halves them four times and instance-normalises the deepest level, which needs more
# than one pixel; 32 is also a multiple of every diffusion preset's factor.
SMALLEST_RECON_SIZE = 32


@dataclass
class Measurement:
    """The cost of one batch unit of a step at the profile's real image size.

    Attributes:
        per_unit: FLOPs and activation bytes of one unit (map, pair, slice) at the real size.
        real_size: the profile's image edge for this step.
        measured_size: the edge it was measured at (= real_size unless scaled).
        cpu_seconds: CPU time spent measuring it (all threads).
        precision: what the run's Trainer asks for ("fp32" or "bf16"; "fp32" for sampling, which has no autocast).
        ema: whether the run keeps an exponential moving average of the weights (one more copy).
    """

    per_unit: StepCost
    real_size: int
    measured_size: int
    cpu_seconds: float
    precision: str = "fp32"
    ema: bool = False

    @property
    def scaled(self) -> bool:
        return self.measured_size != self.real_size


def smallest_size(profile: Profile, field: str) -> int:
    """The smallest image edge the networks of `field` take at `profile` (as ``tests/test_profiles_build.py`` builds
    them): two patches along each axis for the ViTs; for the CNNs, one voxel left after every halving of the CBF
    maps' CNN, 2^3 after those of the structural one (its batch norm sees single volumes)."""
    if field == "cbf_image_size":
        return math.lcm(2 * MAE_PRESETS[profile.mae_preset]["patch_size"], 2 ** len(profile.cnn_widths))
    if field == "contrastive_image_size":
        return math.lcm(2 * ENCODER_PRESETS[profile.contrastive_encoder]["patch_size"],
                        2 * 2 ** len(profile.contrastive_cnn_widths))
    return SMALLEST_RECON_SIZE


def _measure_at(profile: Profile, name: str, field: str, size: int) -> tuple[StepCost, ModelStep]:
    """The cost of step `name`'s batch with the image edge `field` set to `size` (seeded: the same masks, windows
    and noise levels every time), and the step."""
    builder = {**TRAINING_STEPS, **INFERENCE_STEPS}[name]
    sized = dataclasses.replace(profile, **{field: size}) if getattr(profile, field) != size else profile
    with seeded_init(profile.seed):
        step = builder(sized)
        cost = measure_step(step)
    return cost, step


def to_size(cost: StepCost, size: int, real: int, dims: int, *, probe: StepCost | None = None,
            probe_size: int | None = None) -> StepCost:
    """`cost`, measured at edge `size`, at edge `real`: FLOPs by voxel count (attention products by its square);
    activations tensor by tensor through (`probe_size`, `probe`) and (`size`, `cost`) when a probe is given
    (`extrapolated_activations`), else linearly."""
    growth = (real / size) ** dims
    scaled = scale_cost(cost, growth, attention_factor=growth**2)
    if probe is not None and probe_size is not None:
        extrapolated = extrapolated_activations(probe, cost, ratio=(size / probe_size) ** dims, growth=growth)
        if extrapolated is not None:
            scaled.activation_bytes = extrapolated
    return scaled


def measure_per_unit(profile: Profile, name: str, *, max_flops: float = MAX_MEASURED_FLOPS) -> Measurement:
    """Measure one batch unit of step `name` (a `TRAINING_STEPS` or `INFERENCE_STEPS` key) at `profile`'s image size,
    or at the largest reduced size whose measured batch stays under `max_flops` (then scaled; see the module
    docstring)."""
    started = time.process_time()
    field = STEP_SIZE_FIELDS[name]
    dims, real = SPATIAL_DIMS[field], getattr(profile, field)
    small = smallest_size(profile, field)
    if real <= small:
        cost, step = _measure_at(profile, name, field, real)
        return _measurement(cost, step, real, real, started)
    probe, step = _measure_at(profile, name, field, small)
    candidates = [real] + [k * small for k in range(real // small, 0, -1) if k * small < real]
    size = next((s for s in candidates if to_size(probe, small, s, dims).flops <= max_flops), small)
    if size == small and probe.attention_flops > 0:
        size = min(real, 2 * small)  # attention maps grow faster than the voxels: a second size to fit them by
    if size == small:
        cost = to_size(probe, small, real, dims)
    elif size == real:
        cost = _measure_at(profile, name, field, real)[0]
    else:
        cost = to_size(_measure_at(profile, name, field, size)[0], size, real, dims, probe=probe, probe_size=small)
    return _measurement(cost, step, real, size, started)


def _measurement(cost: StepCost, step: ModelStep, real: int, size: int, started: float) -> Measurement:
    """A `Measurement` of one unit of `step` from the `cost` of its batch."""
    config = step.config
    return Measurement(scale_cost(cost, 1 / step.units), real, size, time.process_time() - started,
                       precision=config.precision if config is not None else "fp32",
                       ema=config is not None and config.ema_decay is not None)
