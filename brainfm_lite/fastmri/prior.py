"""The diffusion prior a fastMRI file is reconstructed with, and the pixel size and DDIM steps it goes with.

By default the shipped prior: ``book/results/reference/weights/diffusion_flair`` of the checkout, which
``brainfm results recon --profile reference`` records (`~brainfm_lite.eval.recon_results`); any folder written by
`~brainfm_lite.train.diffusion_training.train_prior` or `~brainfm_lite.models.export.export_weights` works too.

A prior only knows images at the pixel size of its training slices, so `prior_settings` finds that size (and the
DDIM step count it was evaluated with), in this order:

1. the values the caller gives (``--spacing-mm``, ``--steps``);
2. the recorded results beside shipped weights (``recon.json`` two folders up, whose ``settings.weights`` names the
   folder): the profile the run recorded, overrides included;
3. the profile named by the model card (``config.json`` ``model_card.profile``) when it is one of the package's;
4. otherwise the pixel size is refused as unknown (pass it), and DDIM takes `DEFAULT_DDIM_STEPS`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brainfm_lite.errors import InputError

DEFAULT_DDIM_STEPS = 50
RECORD_COMMAND = "brainfm results recon --profile reference"


@dataclass(frozen=True)
class PriorSettings:
    """A prior folder and what it implies for sampling.

    Attributes:
        path: the folder (``config.json`` + ``model.safetensors``).
        spacing_mm: the pixel size of its training slices, mm.
        ddim_steps: DDIM steps to sample with by default.
        source: where `spacing_mm` came from ("given", "recorded results <file>", "profile <name>").
        card: the model card of exported weights (name, profile, provenance ...); None for a plain training folder.
    """

    path: Path
    spacing_mm: float
    ddim_steps: int
    source: str
    card: dict | None = None

    def to_dict(self) -> dict:
        card = self.card or {}
        return {"path": str(self.path), "spacing_mm": self.spacing_mm, "ddim_steps": self.ddim_steps,
                "settings_from": self.source, "name": card.get("name"), "profile": card.get("profile"),
                "training_steps": card.get("steps"), "provenance": card.get("provenance")}


def default_prior_dir() -> Path:
    """Where the shipped prior lives: ``book/results/reference/weights/diffusion_flair`` of the checkout (of the
    working directory outside one)."""
    from brainfm_lite.eval.recon_results import PRIOR_WEIGHTS, recon_results_path

    return recon_results_path("reference").parent / "weights" / PRIOR_WEIGHTS


def prior_settings(prior_dir: str | Path | None = None, *, spacing_mm: float | None = None,
                   ddim_steps: int | None = None) -> PriorSettings:
    """Check a prior folder and find its pixel size and DDIM steps (module docstring).

    Args:
        prior_dir: the folder (None: `default_prior_dir`).
        spacing_mm: the pixel size of the prior's training slices, when known (overrides what the folder says).
        ddim_steps: DDIM steps (overrides the recorded ones).

    Raises:
        InputError: no saved model in the folder (for the default one: how to record it), a model that is not a
            `~brainfm_lite.models.diffusion.DiffusionPrior`, or no pixel size known.
    """
    default = prior_dir is None
    path = Path(default_prior_dir() if default else prior_dir).expanduser()
    config_file = path / "config.json"
    if not config_file.is_file():
        how = (f"the shipped prior is recorded by `{RECORD_COMMAND}`, which writes it there; or pass --prior DIR"
               if default else "give a folder written by train_prior or export_weights (config.json + "
                               "model.safetensors)")
        raise InputError(f"{path}: no diffusion prior there (no config.json); {how}")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as error:
        raise InputError(f"{config_file}: not readable JSON ({error})") from error
    if not isinstance(config, dict) or config.get("class") != "DiffusionPrior":
        found = config.get("class") if isinstance(config, dict) else type(config).__name__
        raise InputError(f"{config_file}: holds a {found}, not a DiffusionPrior")
    card = config.get("model_card") if isinstance(config.get("model_card"), dict) else None
    recorded, source = _recorded_profile(path, card)
    if spacing_mm is not None:
        if not spacing_mm > 0:
            raise InputError(f"--spacing-mm must be > 0; got {spacing_mm}")
        recorded = {**(recorded or {}), "recon_spacing_mm": float(spacing_mm)}
        source = "given"
    if recorded is None or "recon_spacing_mm" not in recorded:
        raise InputError(f"{path}: the prior does not say the pixel size of its training slices (no recorded results "
                         "beside it and no model card naming a profile); pass --spacing-mm")
    timesteps = int(config.get("config", {}).get("num_train_timesteps", DEFAULT_DDIM_STEPS))
    steps = ddim_steps if ddim_steps is not None else int(recorded.get("ddim_steps", DEFAULT_DDIM_STEPS))
    return PriorSettings(path=path, spacing_mm=float(recorded["recon_spacing_mm"]),
                         ddim_steps=min(steps, timesteps) if ddim_steps is None else steps, source=source, card=card)


def _recorded_profile(path: Path, card: dict | None) -> tuple[dict | None, str]:
    """The profile values a prior was trained under, and where they were found ((None, "") when nowhere)."""
    results = path.parent.parent / "recon.json"
    if results.is_file():
        try:
            settings = json.loads(results.read_text()).get("settings", {})
        except (OSError, ValueError, AttributeError):
            settings = {}
        weights = settings.get("weights") if isinstance(settings, dict) else None
        if weights and (results.parent / weights).resolve() == path.resolve() and isinstance(
                settings.get("profile"), dict):
            return settings["profile"], f"recorded results {results}"
    name = (card or {}).get("profile")
    if name:
        from brainfm_lite.config import PROFILES, load_profile

        if name in PROFILES:
            return load_profile(name).to_dict(), f"profile {name}"
    return None, ""
