"""INPUT arguments -> the scans they name: NIfTI files as given, and every scan of a BIDS root.

A BIDS root holds ``sub-<label>/[ses-<label>/]anat/sub-<label>[_ses-<label>]_..._T1w.nii[.gz]`` (BIDS 1.9); for CBF
maps the folders searched are ``perf/`` (ASLPrep's derivatives: ``sub-01/perf/sub-01_desc-mean_cbf.nii.gz``) and
the folder itself (``brainfm cbf`` writes its maps side by side). Hidden files (``.``: temporaries, macOS
metadata) are skipped; what is found is sorted, so the same dataset always gives the same rows in the same order.

`check_scans` then reads every scan with the package's loader (:func:`brainfm_lite.data.io.load_volume`) before
any work, so a bad file is reported at once, with every other bad file, and not after an hour of preprocessing.

Example:
    >>> expand_inputs(["ds/", "extra/sub-99_T1w.nii.gz"])        # doctest: +SKIP
    [PosixPath('ds/sub-01/anat/sub-01_T1w.nii.gz'), PosixPath('ds/sub-02/ses-1/anat/sub-02_ses-1_T1w.nii.gz'),
     PosixPath('extra/sub-99_T1w.nii.gz')]
"""

from __future__ import annotations

from pathlib import Path

from brainfm_lite.errors import InputError

NIFTI_SUFFIXES = (".nii", ".nii.gz")
# Where each modality's scans lie under a BIDS root: folders (relative, glob) and the end of the file's stem.
BIDS_LAYOUT = {
    "T1w": {"folders": ("sub-*/anat", "sub-*/ses-*/anat"), "suffix": "_T1w"},
    "CBF": {"folders": (".", "sub-*/perf", "sub-*/ses-*/perf"), "suffix": "_cbf"},
}


def expand_inputs(inputs, *, modality: str = "T1w") -> list[Path]:
    """The scan files named by `inputs`, in order: a file stands for itself, a folder for its BIDS scans (sorted).

    Args:
        inputs: paths (str or Path): NIfTI files (``.nii``, ``.nii.gz``) or BIDS roots.
        modality: "T1w" (a root gives its ``*_T1w`` scans) or "CBF" (its ``*_cbf`` maps).

    Returns:
        The files, each once.

    Raises:
        InputError: no inputs; a path that does not exist or is not NIfTI by name; a folder with no scan of
            `modality`; a file named twice. Each message names the path.
    """
    if modality not in BIDS_LAYOUT:
        raise InputError(f"modality must be one of {', '.join(BIDS_LAYOUT)}; got {modality!r}")
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    inputs = [Path(p).expanduser() for p in inputs]
    if not inputs:
        raise InputError("no input: give NIfTI files (.nii, .nii.gz) or BIDS roots")
    found: dict[Path, Path] = {}  # resolved -> as given, so that one file named twice is caught
    for given in inputs:
        for path in _scans_of(given, modality):
            key = path.resolve()
            if key in found:
                raise InputError(f"{path}: given twice (also as {found[key]}); name each scan once")
            found[key] = path
    return list(found.values())


def bids_scans(root: str | Path, modality: str = "T1w") -> list[Path]:
    """Every scan of `modality` under the BIDS root `root` (see the module docstring for where), sorted."""
    root = Path(root).expanduser()
    layout = BIDS_LAYOUT[modality]
    files = set()
    for folder in layout["folders"]:
        for suffix in NIFTI_SUFFIXES:
            files.update(p for p in root.glob(f"{folder}/*{layout['suffix']}{suffix}")
                         if p.is_file() and not p.name.startswith("."))
    return sorted(files)


def check_scans(paths, recipe=None) -> None:
    """Read every scan with `load_volume` (3D, validated) and raise one error naming each that cannot be used.

    Args:
        paths: the scan files.
        recipe: the encoder's `~brainfm_lite.features.recipe.Recipe`, whose brain mask is checked too (a
            "nonzero" mask needs a map that is 0 outside the brain); None checks the files alone.

    Raises:
        InputError: one line per unusable file (missing, not NIfTI, 4D, damaged, not masked ...), naming it.
    """
    from brainfm_lite.data.io import load_volume  # here: nibabel is not needed to expand the inputs

    problems = []
    for path in paths:
        try:
            volume = load_volume(path)
            if recipe is not None:
                recipe.given_mask(volume)
        except InputError as err:
            problems.append(str(err))
    if len(problems) == 1:
        raise InputError(problems[0])
    if problems:
        raise InputError(f"{len(problems)} of {len(paths)} inputs cannot be used: " + "; ".join(problems))


def _scans_of(given: Path, modality: str) -> list[Path]:
    if given.is_dir():
        scans = bids_scans(given, modality)
        if not scans:
            where = " or ".join(f"{folder}/*{BIDS_LAYOUT[modality]['suffix']}.nii[.gz]"
                                for folder in BIDS_LAYOUT[modality]["folders"])
            raise InputError(f"{given}: a folder without {modality} scans (looked for {where}); give a BIDS root "
                             "or the NIfTI files themselves")
        return scans
    if not given.exists():
        raise InputError(f"{given}: no such file or folder")
    if not given.name.lower().endswith(NIFTI_SUFFIXES):
        raise InputError(f"{given}: not a NIfTI file name (expected .nii or .nii.gz) nor a BIDS folder")
    return [given]
