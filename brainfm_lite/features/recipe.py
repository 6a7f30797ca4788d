"""The preprocessing an encoder's pretraining data had, recorded beside its weights and read back to prepare new scans.

An encoder only gives meaningful features for scans prepared as its pretraining data were: the same modality, voxel
size, grid, intensity scale. A `Recipe` records those choices; encoders saved by brainfm_lite's pretrainers keep it
in their config.json under ``metadata["preprocessing"]``::

    {"modality": "CBF", "spacing_mm": 3.0, "shape": [64, 64, 64], "registration": "none",
     "bias_correct": false, "brain_mask": "nonzero", "clip": null, "intensity": "zscore",
     "pretraining_data": "synthetic ASL CBF maps (mL/100 g/min) simulated on the MNI152 2009a grid ..."}

Every field but ``pretraining_data`` (a sentence for people) is required: an encoder without the record, or with
part of it, is refused (`read_recipe`) rather than fed scans prepared by guessed defaults. To give your own encoder
a recipe, save it with ``save_pretrained(model, folder, metadata={"preprocessing": recipe.to_dict()})``.

The fields map onto the arguments of :func:`brainfm_lite.preprocess.pipeline.preprocess`
(`Recipe.preprocess_options`, and `Recipe.given_mask` for a "nonzero" mask): to RAS, optional N4, registration to
MNI152 (or a plain resample), brain mask, optional percentile clip, z-score in the mask (0 outside), crop or pad to
``shape`` around the brain.

Example:
    >>> recipe = read_recipe("book/results/reference/weights/mae_cbf")     # doctest: +SKIP
    >>> recipe.modality, recipe.spacing_mm, recipe.shape                    # doctest: +SKIP
    ('CBF', 3.0, (64, 64, 64))
"""

from __future__ import annotations

import dataclasses
import json
import numbers
from dataclasses import dataclass
from pathlib import Path

from brainfm_lite.errors import InputError

RECIPE_KEY = "preprocessing"  # where the recipe lives in config.json's "metadata"
MODALITIES = ("T1w", "CBF")  # T1-weighted scans; CBF maps in mL/100 g/min
REGISTRATIONS = ("none", "rigid", "affine")  # to the MNI152 template; "none": resample in place
INTENSITIES = ("zscore", "none")  # z-score inside the brain mask (0 outside), or the values as they are
# "otsu": Otsu threshold and morphology on the resampled scan (no registration); "mni": the template's brain mask
# (after registration); "nonzero": the scan's nonzero voxels (maps already masked to the brain); "none": every voxel.
BRAIN_MASKS = ("otsu", "mni", "nonzero", "none")
# A map masked to the brain has zeros around it; one nonzero almost everywhere is not masked (an unmasked CBF map's
# noise is nonzero in every voxel, and a brain fills well under this share of a head's field of view).
MAX_NONZERO_FRACTION = 0.95


@dataclass(frozen=True)
class Recipe:
    """How scans are prepared for an encoder: what its pretraining data had.

    Attributes:
        modality: "T1w" (T1-weighted scans) or "CBF" (CBF maps, mL/100 g/min).
        spacing_mm: isotropic voxel size the scans are brought to, mm.
        shape: voxels (X, Y, Z) every scan is cropped or padded to around its brain (the encoder's input size).
        registration: "rigid" or "affine" registration to the MNI152 2009a template (the output lies on the
            template's grid), or "none" (resampled in place).
        bias_correct: N4 bias-field correction before anything else.
        brain_mask: the voxels that are brain (the rest is set to 0; z-score statistics come from inside):
            "otsu" (Otsu threshold and morphology on the resampled scan; needs registration "none"), "mni" (the
            MNI152 brain mask; needs registration), "nonzero" (the scan's nonzero voxels: maps already masked to
            the brain, as CBF derivatives are) or "none" (every voxel).
        clip: (low, high) percentiles inside the mask that intensities are clipped to, or None.
        intensity: "zscore" (mean 0, standard deviation 1 inside the brain mask, 0 outside) or "none".
        pretraining_data: how the pretraining data were made, in words (for people; nothing reads it).
    """

    modality: str
    spacing_mm: float
    shape: tuple[int, int, int]
    registration: str
    bias_correct: bool
    brain_mask: str
    clip: tuple[float, float] | None
    intensity: str
    pretraining_data: str = ""

    def __post_init__(self):
        problem = _problem(self)
        if problem:
            raise InputError(f"preprocessing recipe: {problem}")
        object.__setattr__(self, "spacing_mm", float(self.spacing_mm))
        object.__setattr__(self, "shape", tuple(int(n) for n in self.shape))
        if self.clip is not None:
            object.__setattr__(self, "clip", tuple(float(c) for c in self.clip))

    @classmethod
    def from_dict(cls, values, *, source: str = "preprocessing recipe") -> "Recipe":
        """A recipe from its JSON record; `source` (a file and key) starts every error message.

        Raises:
            InputError: not an object, a required field missing, an unknown field, or a value out of range.
        """
        if not isinstance(values, dict):
            raise InputError(f"{source}: must be an object of fields, got {type(values).__name__}")
        fields = [f.name for f in dataclasses.fields(cls)]
        missing = [name for name in REQUIRED_FIELDS if name not in values]
        if missing:
            raise InputError(f"{source}: missing {', '.join(missing)} (a recipe records {', '.join(REQUIRED_FIELDS)})")
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise InputError(f"{source}: unknown fields {unknown} (known: {', '.join(fields)})")
        try:
            return cls(**values)
        except InputError as err:
            raise InputError(f"{source}: {str(err).removeprefix('preprocessing recipe: ')}") from err

    def to_dict(self) -> dict:
        """The recipe as a JSON-serialisable dict (lists for tuples): what config.json stores."""
        record = dataclasses.asdict(self)
        record["shape"] = list(self.shape)
        record["clip"] = None if self.clip is None else list(self.clip)
        return record

    def preprocess_options(self) -> dict:
        """Keyword arguments of :func:`brainfm_lite.preprocess.pipeline.preprocess` that carry out this recipe,
        but for ``mask=`` (`given_mask`, which needs the scan)."""
        return {"spacing_mm": self.spacing_mm, "shape": self.shape,
                "register": None if self.registration == "none" else self.registration,
                "bias_correct": self.bias_correct, "skull_strip": self.brain_mask != "none", "clip": self.clip,
                "normalise": None if self.intensity == "none" else self.intensity}

    def given_mask(self, volume):
        """The brain mask to hand to `preprocess` (``mask=``) on the scan's own grid: its nonzero voxels for
        ``brain_mask: nonzero``; None for the others (`preprocess` makes Otsu's or the template's mask itself, or
        uses every voxel).

        Args:
            volume: the loaded scan (a `~brainfm_lite.data.volume.Volume`).

        Raises:
            InputError: a "nonzero" scan with no nonzero voxel, or nonzero almost everywhere (more than
                `MAX_NONZERO_FRACTION`: a map not masked to the brain, whose "brain" would be its field of view).
        """
        if self.brain_mask != "nonzero":
            return None
        brain = volume.data != 0
        fraction = float(brain.mean())
        if fraction == 0.0 or fraction > MAX_NONZERO_FRACTION:
            raise InputError(f"{volume.path}: {fraction:.0%} of its voxels are nonzero; the encoder's recipe takes "
                             "the nonzero voxels as the brain, so the map must be 0 outside the brain (mask it first)")
        return brain

    def summary(self) -> str:
        """One line, e.g. ``CBF, 3 mm, 64 x 64 x 64, no registration (resampled in place), no N4, brain = nonzero
        voxels, no clip, z-score in the brain``."""
        registration = ("no registration (resampled in place)" if self.registration == "none"
                        else f"{self.registration} registration to MNI152")
        return ", ".join([self.modality, f"{self.spacing_mm:g} mm", " x ".join(map(str, self.shape)), registration,
                          "N4" if self.bias_correct else "no N4", MASK_WORDS[self.brain_mask],
                          f"clip {self.clip[0]:g}-{self.clip[1]:g} %" if self.clip else "no clip",
                          "z-score in the brain" if self.intensity == "zscore" else "intensities as they are"])


MASK_WORDS = {"otsu": "Otsu brain mask", "mni": "MNI152 brain mask", "nonzero": "brain = nonzero voxels",
              "none": "no brain mask"}
REQUIRED_FIELDS = tuple(f.name for f in dataclasses.fields(Recipe) if f.name != "pretraining_data")


def read_recipe(folder: str | Path) -> Recipe:
    """The recipe recorded in the config.json of a saved encoder (`save_pretrained` or `export_weights` folder).

    Raises:
        InputError: no config.json, unreadable JSON, no ``metadata["preprocessing"]`` record (named, with what it
            must hold), or an incomplete or invalid record.
    """
    folder = Path(folder).expanduser()
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise InputError(f"{folder}: no config.json; --encoder needs a folder written by save_pretrained or "
                         "export_weights")
    try:
        config = json.loads(config_file.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f"{config_file}: not readable JSON ({err})") from err
    metadata = config.get("metadata") if isinstance(config, dict) else None
    if not isinstance(metadata, dict) or RECIPE_KEY not in metadata:
        raise InputError(
            f"{folder}: the encoder does not record how its pretraining data were preprocessed (config.json has no "
            f"metadata.{RECIPE_KEY} with {', '.join(REQUIRED_FIELDS)}); without it scans cannot be prepared as the "
            "encoder expects. Add the record to config.json, or save the encoder with "
            f"save_pretrained(model, folder, metadata={{'{RECIPE_KEY}': recipe.to_dict()}})")
    return Recipe.from_dict(metadata[RECIPE_KEY], source=f"{config_file}: metadata.{RECIPE_KEY}")


def pretraining_recipe(profile, modality: str) -> Recipe:
    """The recipe of the data a brainfm_lite pretrainer trains on at `profile` (what it records beside the encoder).

    The embedded cohorts are simulated on the MNI152 2009a grid at ``profile.spacing_mm`` (no registration step:
    each subject is the template scaled, rotated and deformed), cropped or padded around the subject's brain to the
    network's cube and z-scored inside the brain (0 outside), with neither N4 nor clipping. So a new scan is
    resampled in place, not registered. The brain is where the pretraining maps are nonzero for CBF (the simulated
    maps are 0 outside their GM + WM + CSF > 0.5 mask, exactly that mask); for T1w, whose simulated images carry
    noise outside the brain and whose mask came from the simulation's tissue maps, Otsu's mask is the stand-in.

    Args:
        profile: a :class:`~brainfm_lite.config.Profile`.
        modality: "CBF" (the ASL cohort's maps: ``cbf_image_size``) or "T1w" (the structural cohort's T1 images
            and qMRI contrasts: ``contrastive_image_size``).
    """
    if modality not in MODALITIES:
        raise InputError(f"modality must be one of {', '.join(MODALITIES)}; got {modality!r}")
    grid = (f"on the MNI152 2009a grid at {profile.spacing_mm:g} mm (the 1 mm template block-averaged; each subject "
            "the template scaled, rotated and deformed, so no registration step)")
    if modality == "CBF":
        size, mask = profile.cbf_image_size, "nonzero"
        data = (f"synthetic ASL CBF maps (mL/100 g/min, brainfm_lite.sim.asl) {grid}, 0 outside the brain "
                f"(GM + WM + CSF fraction > 0.5), cropped or padded to {size}^3 around the brain and z-scored inside "
                "it (0 outside); no N4, no clipping. New maps: resampled in place, the brain taken as their nonzero "
                "voxels (give maps masked to the brain, as ASLPrep writes them)")
    else:
        size, mask = profile.contrastive_image_size, "otsu"
        data = (f"synthetic T1-weighted images (brainfm_lite.sim: site blur, bias field and Rician noise kept; SeqInv "
                f"also saw contrasts simulated from the same subjects' qMRI maps) {grid}, cropped or padded to "
                f"{size}^3 around the brain (CSF + GM + WM + lesion fraction > 0.5, from the simulation) and z-scored "
                "inside it (0 outside); no N4, no clipping. New scans: resampled in place, Otsu's brain mask "
                "standing in for the simulation's")
    return Recipe(modality=modality, spacing_mm=profile.spacing_mm, shape=(size,) * 3, registration="none",
                  bias_correct=False, brain_mask=mask, clip=None, intensity="zscore", pretraining_data=data)


def _problem(recipe: Recipe) -> str | None:
    """What is wrong with a field of `recipe`, in words naming the field; None when all is well."""
    if recipe.modality not in MODALITIES:
        return f"modality must be one of {', '.join(MODALITIES)}, got {recipe.modality!r}"
    if not _number(recipe.spacing_mm) or not recipe.spacing_mm > 0:
        return f"spacing_mm must be one positive number (isotropic voxels, mm), got {recipe.spacing_mm!r}"
    shape = recipe.shape
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 3 or not all(
            isinstance(n, numbers.Integral) and not isinstance(n, bool) and n > 0 for n in shape):
        return f"shape must be three positive integers (voxels), got {shape!r}"
    if recipe.registration not in REGISTRATIONS:
        return f"registration must be one of {', '.join(REGISTRATIONS)}, got {recipe.registration!r}"
    if not isinstance(recipe.bias_correct, bool):
        return f"bias_correct must be true or false, got {recipe.bias_correct!r}"
    if recipe.brain_mask not in BRAIN_MASKS:
        return f"brain_mask must be one of {', '.join(BRAIN_MASKS)}, got {recipe.brain_mask!r}"
    if recipe.brain_mask == "otsu" and recipe.registration != "none":
        return (f"brain_mask otsu needs registration none (after {recipe.registration} registration the scan lies "
                "on the template's grid: use brain_mask mni)")
    if recipe.brain_mask == "mni" and recipe.registration == "none":
        return "brain_mask mni needs registration rigid or affine (the template's mask fits registered scans only)"
    clip = recipe.clip
    if clip is not None and (isinstance(clip, (str, bytes)) or not hasattr(clip, "__len__") or len(clip) != 2
                             or not all(_number(c) for c in clip) or not 0 <= clip[0] < clip[1] <= 100):
        return f"clip must be null or two percentiles 0 <= low < high <= 100, got {clip!r}"
    if recipe.intensity not in INTENSITIES:
        return f"intensity must be one of {', '.join(INTENSITIES)}, got {recipe.intensity!r}"
    if not isinstance(recipe.pretraining_data, str):
        return f"pretraining_data must be text, got {recipe.pretraining_data!r}"
    return None


def _number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)
