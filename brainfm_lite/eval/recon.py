"""Posterior sampling: reconstruct undersampled multi-coil k-space with a diffusion prior and data consistency.

The prior (`~brainfm_lite.models.diffusion.DiffusionPrior`) knows what FLAIR slices look like; the measurement
y = A x + noise (``A x = M F(S x)``, `brainfm_lite.physics.kspace`) says what this slice looked like on the
sampled lines. Sampling walks the reverse diffusion from pure noise; at every step the network's estimate of the
clean image, x0_hat = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t), is pulled towards the data in
one of two ways:

- ``"projection"`` (hard data consistency, the default): replace x0_hat by the closest image that reproduces the
  measured lines, x0_dc = x0_hat + A^+ (y - A x0_hat) (`KspaceProjector`). With one coil this is exactly "put the
  measured k-space lines back"; with several coils the pseudo-inverse keeps the coils consistent with one image.
  Noise-free data are reproduced exactly (as its eigenvalue cut-off goes to 0). It is cheap (no backpropagation
  through the U-Net), and it is the right choice when the lines are nearly noise-free, as in these simulations;
  with noisy data it copies the noise in (the cut-off bounds how much it amplifies it).
- ``"dps"`` (Chung et al. 2023, as the stroke DPM paper's group samples): after the ordinary reverse step, move
  x_{t-1} along
  -grad_{x_t} ||y - A x0_hat(x_t)||^2, scaled by ``dps_scale / ||y - A x0_hat||`` per slice. The gradient flows
  through the network, so a step costs about three network evaluations instead of one, and consistency is only
  approximate, but the data term is weighed against the prior, which tolerates noise.

The reverse step itself is MONAI's: ``DDPMScheduler`` (every one of the T training steps) or DDIM (k steps from
T - 1 down to 0, with fresh noise `DDIM_ETA` = 1, since the deterministic eta = 0 undoes the data consistency;
`ConsistentDDIMScheduler`, MONAI's ``DDIMScheduler`` with its step taken to the next timestep of its own
schedule). Both are built with ``prediction_type="sample"`` so they accept the
data-consistent x0 directly and derive the matching noise themselves.

Scale: the measured k-space is divided, slice by slice, by `~brainfm_lite.physics.kspace.acs_scale` (computed from
the central, autocalibration columns alone) before sampling, and the image multiplied back afterwards, so a
reconstruction does not depend on the scanner's arbitrary units (k-space times c gives the image times c) and the
prior sees images at the scale of its training slices, which `~brainfm_lite.datasets.recon_slices` divides by the
same statistic. No fully sampled image is needed, so simulated and real k-space go through the same path.

Example:
    >>> k = simulate_acquisition(image, sens, mask)                              # [S, C, H, W]   # doctest: +SKIP
    >>> result = reconstruct(prior, k, sens, mask, sampler="ddim", steps=50, seed=0)
    >>> result.magnitude.shape                                                    # [S, H, W]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from monai.networks.schedulers import DDIMScheduler, DDPMScheduler
from tqdm.auto import tqdm

from brainfm_lite.errors import InputError
from brainfm_lite.models.diffusion import DiffusionPrior
from brainfm_lite.physics.kspace import acs_columns, acs_scale, adjoint_op, forward_op, to_channels, to_complex

SAMPLERS = ("ddpm", "ddim")
# DDIM's eta with data consistency. Deterministic DDIM (eta = 0) carries the noise it derives from x_t and the
# corrected x0 into the next step with weight sqrt(1 - abar_prev), and that noise holds -sqrt(abar_t / (1 - abar_t))
# times the correction: each step undoes most of the previous step's data consistency. With fresh noise the weight
# shrinks and the correction stays. Measured on the reference run's source-pretrained prior (one held-out FLAIR
# volume, R = 4, 25 steps; zero-filled 19.06 dB): eta 0 16.73 dB (17.10 with 100 steps), 0.5 19.66, 0.85 20.65
# (DDNM's choice, Wang et al. 2023), 1.0 21.01.
DDIM_ETA = 1.0
CONSISTENCIES = ("projection", "dps")


@dataclass
class Reconstruction:
    """What `reconstruct` returns.

    Attributes:
        image: complex reconstruction [S, H, W] (in the units of the k-space given).
        trajectory: (t, ``|x0_hat|`` [S, H, W]) at a few steps of the reverse process, first to last, for figures.
        network_calls: U-Net evaluations (forward passes) made per batch of slices.
    """

    image: torch.Tensor
    trajectory: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    network_calls: int = 0

    @property
    def magnitude(self) -> torch.Tensor:
        """``|image|`` [S, H, W], what a radiologist sees and what PSNR/SSIM score."""
        return self.image.abs()


class KspaceProjector:
    """Hard data consistency for one set of sensitivities and one Cartesian mask: x -> x + A^+ (y - A x).

    A^+ (y - A x) is the smallest image change that makes the sampled k-space equal to y, so ``A(x_dc) = y``
    exactly whenever y is noise-free (y = A x_true), and the unsampled k-space of x is changed as little as
    possible. With one coil of unit magnitude it is literally "write the measured lines back into k-space".

    Why it is cheap: the mask keeps whole columns, so the frequency axis along H is fully sampled and the normal
    operator A^H A = sum_c S_c^* F^H M F S_c acts on each image row on its own: one small W x W matrix N_h per
    row h (per slice when sensitivities or masks differ per slice). Their pseudo-inverses are computed once, by
    applying A^H A to the W unit column images, and every projection afterwards is one batched matrix product.

    Args:
        sens: coil sensitivities [C, H, W] or [S, C, H, W].
        mask: column mask broadcastable to [S, C, H, W] ([H, W], [W] or [S, 1, H, W]); every row the same.
        rtol: eigenvalues of N_h below ``rtol`` times the largest are treated as zero: those parts of the image,
            which the sampled lines barely see, stay as the prior made them. The trade-off: the correction
            amplifies measurement noise by up to 1 / sqrt(rtol) there (a g-factor). With rtol -> 0 noise-free
            lines are reproduced exactly (to 1e-5 with rtol=1e-10 on double-precision data); the default 1e-3
            keeps the noise gain under about 30, leaves a consistent image unchanged, and moves an arbitrary image
            to within 1-3% of the measured lines. One coil: exact at any rtol.
    """

    def __init__(self, sens: torch.Tensor, mask: torch.Tensor, *, rtol: float = 1e-3):
        mask = torch.as_tensor(mask, device=sens.device)
        if mask.ndim >= 2 and not bool((mask == mask[..., :1, :]).all()):
            raise InputError("KspaceProjector needs a Cartesian column mask (every row of the mask the same)")
        # Double precision: N_h is ill-conditioned at high R, and float32 would leave errors of 1e-3 on the lines.
        self.sens, self.mask = sens.to(torch.complex128), mask
        normal = self._normal_matrices(sens.shape[-1])
        self.pinv = torch.linalg.pinv(normal, rtol=rtol, hermitian=True)  # [(S,) H, W, W]

    def _normal_matrices(self, width: int, chunk: int = 32) -> torch.Tensor:
        """N[(s,) h, i, j] = (A^H A e_j)[(s,) h, i], e_j the image that is 1 in column j (every row)."""
        columns = []
        for start in range(0, width, chunk):
            stop = min(start + chunk, width)
            unit = torch.zeros(stop - start, self.sens.shape[-2], width, dtype=torch.complex128,
                               device=self.sens.device)
            unit[torch.arange(stop - start), :, torch.arange(start, stop)] = 1
            if self.sens.ndim == 4:
                unit = unit[:, None]  # [J, 1, H, W] against per-slice [S, C, H, W]
            columns.append(self.normal(unit))  # [J, (S,) H, W]
        normal = torch.cat(columns)  # [j, (S,) h, i]
        return normal.movedim(0, -1)  # [(S,) h, i, j]

    def normal(self, image: torch.Tensor) -> torch.Tensor:
        """A^H A applied to complex images [..., H, W]."""
        return adjoint_op(forward_op(image, self.sens, self.mask), self.sens, self.mask)

    def __call__(self, image: torch.Tensor, kspace: torch.Tensor) -> torch.Tensor:
        """The data-consistent version of `image` [S, H, W] (complex) given measured `kspace` [S, C, H, W]."""
        x, y = image.to(torch.complex128), kspace.to(torch.complex128)
        rhs = adjoint_op(y - forward_op(x, self.sens, self.mask), self.sens, self.mask)
        return (x + (self.pinv @ rhs.unsqueeze(-1)).squeeze(-1)).to(image.dtype)


def project_kspace(image: torch.Tensor, kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, *,
                   rtol: float = 1e-3) -> torch.Tensor:
    """Hard data consistency in one call: ``KspaceProjector(sens, mask, rtol=rtol)(image, kspace)``.

    Args:
        image: current estimate x, complex [S, H, W].
        kspace: measured multi-coil k-space y, complex [S, C, H, W] (zero off the mask).
        sens: coil sensitivities [C, H, W] or [S, C, H, W].
        mask: Cartesian column mask broadcastable to [S, C, H, W].
        rtol: see `KspaceProjector`.

    Returns:
        complex [S, H, W] whose sampled k-space equals `kspace` (for noise-free data: exactly as rtol -> 0).
    """
    return KspaceProjector(sens, mask, rtol=rtol)(image, kspace)


class ConsistentDDIMScheduler(DDIMScheduler):
    """MONAI's ``DDIMScheduler`` whose ``step`` goes to the next timestep of its own schedule.

    MONAI 1.6 spaces the k timesteps as ``round(linspace(T - 1, 0, k))`` but its ``step(t)`` returns the sample at
    ``t - T // k``; the two agree only where the spacing (T - 1) / (k - 1) happens to be T // k. Otherwise the
    network is handed x at one noise level labelled with another: at T = 100, k = 5 the schedule is 99, 74, 50, 25,
    0 while the steps land on 79, 54, 30 and 5, so the last call sees x_5 labelled t = 0, takes it for clean, and
    noise is left in the output. Here `set_timesteps` keeps MONAI's spacing (from pure noise at T - 1 down to 0)
    and `step` goes from each timestep to the next one in that list (`previous_timestep`); from t = 0 it returns the
    clean estimate x0 itself. The update is MONAI's (DDIM eq. 12, with its prediction types, ``eta`` and clipping).
    """

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device | None = None) -> None:
        """k = `num_inference_steps` distinct timesteps, ``round(linspace(T - 1, 0, k))``: T - 1 first, 0 last (one
        step: T - 1 alone, straight to the clean image)."""
        if not 1 <= num_inference_steps <= self.num_train_timesteps:
            raise InputError(f"DDIM steps must be in 1..{self.num_train_timesteps}; got {num_inference_steps}")
        super().set_timesteps(num_inference_steps, device)
        # float64 here: MONAI rounds a float32 linspace; k <= T gives a spacing >= 1, so the rounded steps are distinct
        steps = np.round(np.linspace(self.num_train_timesteps - 1, 0, num_inference_steps)).astype(np.int64)
        self.timesteps = torch.from_numpy(steps).to(device)
        self._previous = dict(zip(steps.tolist(), [*steps[1:].tolist(), -1]))

    def previous_timestep(self, timestep: int) -> int:
        """The timestep `step` goes to from `timestep`: the next one of the schedule, -1 (clean, abar = 1) after 0."""
        t = int(timestep)
        if t not in self._previous:
            raise InputError(f"timestep {t} is not in this scheduler's schedule {self.timesteps.tolist()}")
        return self._previous[t]

    def step(self, model_output: torch.Tensor, timestep: int, sample: torch.Tensor, eta: float = 0.0,
             generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """One DDIM update from `timestep` to `previous_timestep` (timestep): (x_prev, x0_hat), both like `sample`.

        Args:
            model_output: the network's output at `timestep` (x0 itself with ``prediction_type="sample"``).
            timestep: the current timestep t, one of ``self.timesteps``.
            sample: x_t [B, C, H, W].
            eta: 0 for deterministic DDIM; 1 gives DDPM-like noise.
            generator: for the noise when eta > 0.
        """
        t = int(timestep)
        previous = self.previous_timestep(t)
        abar_t = self.alphas_cumprod[t]
        abar_prev = self.alphas_cumprod[previous] if previous >= 0 else self.final_alpha_cumprod
        if self.prediction_type == "epsilon":
            x0, eps = (sample - (1 - abar_t).sqrt() * model_output) / abar_t.sqrt(), model_output
        elif self.prediction_type == "sample":
            x0, eps = model_output, (sample - abar_t.sqrt() * model_output) / (1 - abar_t).sqrt()
        else:  # v_prediction
            x0 = abar_t.sqrt() * sample - (1 - abar_t).sqrt() * model_output
            eps = abar_t.sqrt() * model_output + (1 - abar_t).sqrt() * sample
        if self.clip_sample:
            x0 = x0.clamp(*self.clip_sample_values)
        std = eta * self._get_variance(t, previous).sqrt()
        x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - std**2).sqrt() * eps
        if eta > 0:
            noise = torch.randn(model_output.shape, dtype=model_output.dtype, generator=generator,
                                device=model_output.device)
            x_prev = x_prev + std * noise
        return x_prev, x0


def make_sampler(prior: DiffusionPrior, sampler: str, steps: int | None):
    """The scheduler of a reverse process over the prior's training schedule, timesteps set: MONAI's
    ``DDPMScheduler`` over all T steps, or a `ConsistentDDIMScheduler` over ``steps`` steps (T - 1 down to 0).

    ``prediction_type="sample"``: `reconstruct` hands it the data-consistent x0 rather than the network's noise.
    Clipping is off: complex images are not confined to [-1, 1].
    """
    c = prior.config
    common = dict(num_train_timesteps=c.num_train_timesteps, schedule=c.schedule, beta_start=c.beta_start,
                  beta_end=c.beta_end, clip_sample=False, prediction_type="sample")
    if sampler == "ddpm":
        if steps not in (None, c.num_train_timesteps):
            raise InputError(f"the DDPM sampler walks all {c.num_train_timesteps} training steps; got steps={steps} "
                             "(use sampler='ddim' for fewer)")
        scheduler = DDPMScheduler(**common)
        scheduler.set_timesteps(c.num_train_timesteps)
    elif sampler == "ddim":
        steps = c.num_train_timesteps if steps is None else steps
        if not 1 <= steps <= c.num_train_timesteps:
            raise InputError(f"DDIM steps must be in 1..{c.num_train_timesteps}; got {steps}")
        scheduler = ConsistentDDIMScheduler(**common)
        scheduler.set_timesteps(steps)
    else:
        raise InputError(f"unknown sampler '{sampler}': choose one of {SAMPLERS}")
    return scheduler


@torch.no_grad()
def reconstruct(prior: DiffusionPrior, kspace: torch.Tensor, sens: torch.Tensor, mask: torch.Tensor, *,
                sampler: str = "ddim", steps: int | None = None, eta: float = DDIM_ETA,
                consistency: str = "projection",
                dps_scale: float = 1.0, projection_rtol: float = 1e-3, clip: float | None = 2.0, seed: int = 0,
                batch_size: int | None = None, n_snapshots: int = 0, normalise: bool = True,
                progress: bool = True) -> Reconstruction:
    """Sample the posterior p(x | y): reverse diffusion with data consistency at every step, batched over slices.

    Args:
        prior: a trained `DiffusionPrior` (its EMA weights), on the device to run on.
        kspace: measured multi-coil k-space [S, C, H, W], complex, in any units (zero off the mask); with
            `normalise` off, at the scale of the images the prior was trained on.
        sens: coil sensitivities [C, H, W] (shared) or [S, C, H, W].
        mask: sampling mask broadcastable to [S, C, H, W]: [H, W], [W], or [S, 1, H, W] for one mask per slice.
        sampler: "ddim" (``steps`` steps) or "ddpm" (all the prior's training steps).
        steps: DDIM steps k (default: all T); with "ddpm" leave it None.
        eta: DDIM's fresh noise at each step, from 0 (deterministic) to 1 (the variance of DDPM's posterior over
            the skipped interval); DDPM ignores it. Default `DDIM_ETA` (1): see there why not 0.
        consistency: "projection" (hard, `project_kspace` on x0_hat) or "dps" (likelihood gradient); see the module
            docstring for when each fits.
        dps_scale: step size of the DPS gradient (after its 1 / ||y - A x0_hat|| scaling).
        projection_rtol: eigenvalue cut-off of the projection (`KspaceProjector`).
        clip: clamp the real and imaginary parts of x0_hat to [-clip, clip] before data consistency (images are
            about 1 in the brain); early in sampling, and always with a poorly trained prior, x0_hat divides the
            network's error by sqrt(abar_t), which is tiny at high t, and without the clamp the sample diverges.
            None: no clamp.
        seed: seeds the initial noise and DDPM's noise; the same seed and batch_size give the same output.
        batch_size: slices sampled together (default: all).
        n_snapshots: keep ``|x0_hat|`` at this many evenly spaced steps (the last one included) in ``trajectory``.
        normalise: divide each slice's k-space by its `~brainfm_lite.physics.kspace.acs_scale` before sampling and
            multiply the image back after, as the prior's training slices were divided (the mask must sample the
            central columns that scale reads). False: the k-space is already at the prior's scale.
        progress: show a tqdm progress bar of the sampling steps, with the slices done (as the Trainer's
            ``progress``); False for quiet runs (tests, the book's chapters).

    Returns:
        A `Reconstruction` (complex image [S, H, W] and trajectory, in the units of `kspace`; network calls per
        batch).

    Raises:
        InputError: shapes that do not fit, an unknown sampler or consistency, DDPM with ``steps``, a mask that
            misses the central columns `normalise` needs.
    """
    if consistency not in CONSISTENCIES:
        raise InputError(f"unknown consistency '{consistency}': choose one of {CONSISTENCIES}")
    if not isinstance(kspace, torch.Tensor) or kspace.ndim != 4 or not kspace.is_complex():
        raise InputError(f"kspace must be complex [S, C, H, W]; got {getattr(kspace, 'shape', type(kspace))}")
    n_slices, n_coils, height, width = kspace.shape
    if sens.ndim not in (3, 4) or tuple(sens.shape[-3:]) != (n_coils, height, width):
        raise InputError(f"sens must be [C, H, W] or [S, C, H, W] = {(n_coils, height, width)}; got "
                         f"{tuple(sens.shape)}")
    prior.check_images(torch.empty(1, prior.config.in_channels, height, width))
    n_steps = len(make_sampler(prior, sampler, steps).timesteps)  # validates sampler and steps before any work
    mask = torch.as_tensor(mask)
    if normalise:
        scale = _measured_scale(kspace, mask)  # [S], from the central columns only
        kspace = kspace / scale.view(-1, 1, 1, 1).to(kspace.device, kspace.dtype)
    device = next(prior.parameters()).device
    kspace, sens, mask = kspace.to(device), sens.to(device), mask.to(device)
    prior.eval()
    batch_size = batch_size or n_slices
    n_batches = -(-n_slices // batch_size)
    images, snapshots, calls = [], [], 0
    bar = tqdm(total=n_batches * n_steps, desc=f"{sampler} sampling", unit="step", dynamic_ncols=True,
               disable=not progress)
    try:
        for index, start in enumerate(range(0, n_slices, batch_size)):
            chunk = slice(start, start + batch_size)
            bar.set_postfix(slices=f"{start + 1}-{min(start + batch_size, n_slices)} of {n_slices}")
            chunk_sens = sens[chunk] if sens.ndim == 4 else sens
            chunk_mask = mask[chunk] if mask.ndim == 4 else mask
            generator = torch.Generator(device).manual_seed(seed + index)
            image, trajectory, calls = _sample(prior, kspace[chunk], chunk_sens, chunk_mask, sampler=sampler,
                                               steps=steps, eta=eta, consistency=consistency, dps_scale=dps_scale,
                                               rtol=projection_rtol, clip=clip, generator=generator,
                                               n_snapshots=n_snapshots, on_step=bar.update)
            images.append(image)
            snapshots.append(trajectory)
    finally:
        bar.close()
    image = torch.cat(images).cpu()
    trajectory = [(t, torch.cat([batch[i][1] for batch in snapshots])) for i, (t, _) in enumerate(snapshots[0])]
    if normalise:  # back to the units of the k-space given
        image = image * scale.view(-1, 1, 1).to(image.dtype)
        trajectory = [(t, snapshot * scale.view(-1, 1, 1).to(snapshot.dtype)) for t, snapshot in trajectory]
    return Reconstruction(image=image, trajectory=trajectory, network_calls=calls)


def _measured_scale(kspace: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """`acs_scale` of each slice [S] (on the CPU), after checking that `mask` samples every column it reads."""
    needed = acs_columns(kspace.shape[-1])
    sampled = mask.detach().cpu().bool()
    sampled = sampled.reshape(-1, sampled.shape[-1]) if sampled.ndim else sampled.reshape(1, 1)
    if not bool(sampled.expand(-1, kspace.shape[-1])[:, needed].all()):
        raise InputError(f"the mask must sample the central {int(needed.sum())} columns (the autocalibration lines "
                         "the intensity scale is read from); sample them or pass normalise=False with k-space "
                         "already at the prior's scale")
    return acs_scale(kspace.detach().cpu())


def _sample(prior, kspace, sens, mask, *, sampler, steps, eta, consistency, dps_scale, rtol, clip, generator,
            n_snapshots, on_step=None):
    """One batch of slices through the reverse process; returns (complex image, trajectory, network calls).
    `on_step` is called after every step (the progress bar)."""
    scheduler = make_sampler(prior, sampler, steps)
    noise = {"eta": eta} if sampler == "ddim" else {}
    project = KspaceProjector(sens, mask, rtol=rtol) if consistency == "projection" else None
    timesteps = scheduler.timesteps.tolist()
    keep = {round(i * (len(timesteps) - 1) / max(n_snapshots - 1, 1)) for i in range(n_snapshots)}
    x = torch.randn((kspace.shape[0], 2, *kspace.shape[-2:]), generator=generator, device=kspace.device)
    trajectory, calls = [], 0
    for position, t in enumerate(timesteps):
        t_batch = torch.full((x.shape[0],), t, device=x.device, dtype=torch.long)
        if consistency == "dps":
            x_in = x.detach().requires_grad_(True)
            with torch.enable_grad():
                x0 = _clamp(prior.predict_x0(x_in, t_batch), clip)
                residual = kspace - forward_op(to_complex(x0), sens, mask)
                norm = residual.abs().pow(2).sum(dim=(1, 2, 3)).sqrt()  # ||y - A x0_hat|| per slice
                grad = torch.autograd.grad(norm.pow(2).sum(), x_in)[0]
            x0 = x0.detach()
            x = scheduler.step(x0, t, x, generator=generator, **noise)[0]
            x = x - dps_scale * grad / norm.clamp(min=1e-12).view(-1, 1, 1, 1)
        else:
            x0 = to_channels(project(to_complex(_clamp(prior.predict_x0(x, t_batch), clip)), kspace))
            x = scheduler.step(x0, t, x, generator=generator, **noise)[0]
        calls += 1
        if position in keep:
            trajectory.append((int(t), to_complex(x0).abs().cpu()))
        if on_step is not None:
            on_step()
    return to_complex(x), trajectory, calls


def _clamp(x0: torch.Tensor, clip: float | None) -> torch.Tensor:
    return x0 if clip is None else x0.clamp(-clip, clip)
