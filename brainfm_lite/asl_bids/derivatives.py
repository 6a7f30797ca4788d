"""Write CBF results as derivative files: ``<entities>_desc-mean_cbf.nii.gz`` and its JSON, atomically.

For ``sub-01/ses-1/perf/sub-01_ses-1_asl.nii.gz`` the outputs are ``sub-01_ses-1_desc-mean_cbf.nii.gz``
(mL/100 g/min, float32, the series' affine) with ``sub-01_ses-1_desc-mean_cbf.json`` (the parameters used, and
QEI when tissue maps were given); multi-delay fits add ``sub-01_ses-1_att.nii.gz`` (s) and its JSON.
Callers compute every result first, so a malformed series leaves the output folder untouched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from brainfm_lite import __version__
from brainfm_lite.asl_bids.quantify import CbfResult
from brainfm_lite.atomic import write_json
from brainfm_lite.data.io import save_volume
from brainfm_lite.data.volume import Volume
from brainfm_lite.errors import InputError


def cbf_file_name(result: CbfResult) -> str:
    """``sub-<label>[_ses-<label>][...]_desc-mean_cbf.nii.gz`` from the series' entities."""
    return f"{result.series.name.stem()}_desc-mean_cbf.nii.gz"


def write_results(results: list[CbfResult], out_dir: str | Path) -> list[Path]:
    """Write each result's CBF map (and ATT map) with a JSON sidecar into ``out_dir`` (created when missing).

    Returns:
        The files written, NIfTI before JSON for each map.

    Raises:
        InputError: ``out_dir`` is a file, or two series would write the same name.
    """
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"{out_dir}: is a file; --out needs a folder")
    names = [cbf_file_name(result) for result in results]
    if len(set(names)) != len(names):
        raise InputError(f"{out_dir}: two series would both write {names}; their names must differ by an entity")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    software = f"brainfm_lite {__version__} (brainfm cbf)"
    for result, name in zip(results, names):
        sidecar = {key: value for key, value in result.parameters.items() if value is not None}  # only what applies
        sidecar["Software"] = software
        written += _write_map(result.cbf, result, out_dir / name, sidecar)
        if result.att is not None:
            att_name = name.replace("_desc-mean_cbf.nii.gz", "_att.nii.gz")
            att_sidecar = {"Units": "s", "Sources": result.parameters["Sources"], "Software": software,
                           "Description": "arterial transit time of the multi-delay Buxton fit"}
            written += _write_map(result.att, result, out_dir / att_name, att_sidecar)
    return written


def _write_map(data: np.ndarray, result: CbfResult, path: Path, sidecar: dict) -> list[Path]:
    save_volume(Volume(data=data.astype(np.float32), affine=result.series.affine), path)
    json_path = path.with_name(path.name.removesuffix(".nii.gz") + ".json")
    write_json(json_path, sidecar)
    return [path, json_path]
