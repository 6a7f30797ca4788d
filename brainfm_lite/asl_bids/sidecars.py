"""Sidecar inheritance (the BIDS Inheritance Principle) and metadata that remembers which file set each field.

For a data file such as ``sub-01/ses-1/perf/sub-01_ses-1_asl.nii.gz`` the applicable JSON files are those with the
same suffix and no entity the data file lacks, at the dataset root, ``sub-01/``, ``sub-01/ses-1/`` and the
``perf/`` folder. They are loaded from the top down, each lower file overriding the keys it repeats; two
applicable files at one level are an error (rule 4). A TSV (``aslcontext.tsv``) is not merged: the lowest
applicable one is used (rule 5a).

Every field remembers the file that set it, so an error names the file to fix, not just the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from brainfm_lite.asl_bids.entities import BidsName, parse_name
from brainfm_lite.errors import InputError


@dataclass(frozen=True)
class Sidecar:
    """Merged JSON metadata of one data file.

    Attributes:
        values: field -> value after inheritance.
        origins: field -> the JSON file whose value won.
        files: the applicable JSON files, top (dataset root) first.
        own_file: the data file's own sidecar path (it may not exist): where a missing field is reported.
    """

    values: dict
    origins: dict
    files: tuple[Path, ...]
    own_file: Path

    def __contains__(self, key: str) -> bool:
        return key in self.values

    def get(self, key: str, default=None):
        return self.values.get(key, default)

    def file_of(self, key: str) -> Path:
        """The file that set ``key``, else the data file's own sidecar (where the field should be added)."""
        return self.origins.get(key, self.own_file)

    def error(self, key: str, problem: str) -> InputError:
        """An InputError naming the file and the field: ``<file>: <key> <problem>``."""
        return InputError(f"{self.file_of(key)}: {key} {problem}")

    def require(self, key: str, why: str = ""):
        """The value of a required field; InputError naming the sidecar and the field when it is absent."""
        if key not in self.values:
            searched = ", ".join(str(f) for f in self.files) or "no applicable sidecar exists"
            reason = f" ({why})" if why else ""
            raise InputError(f"{self.own_file}: required field {key} is missing{reason}; "
                             f"sidecars read: {searched}")
        return self.values[key]


def applicable_files(root: Path, data_path: Path, *, suffix: str, extension: str) -> list[Path]:
    """Metadata files for ``data_path`` with ``suffix`` and ``extension``, from the dataset root down.

    Args:
        root: the BIDS dataset root.
        data_path: a data file inside ``root``.
        suffix: the metadata's suffix (``asl``, ``m0scan``, ``aslcontext``).
        extension: ``.json`` or ``.tsv``.

    Returns:
        One file per level at most, top level first.

    Raises:
        InputError: two applicable files at one level (BIDS inheritance rule 4).
    """
    data_name = parse_name(data_path)
    if data_name is None:
        raise InputError(f"{data_path}: not a BIDS file name (sub-<label>[_ses-<label>]..._<suffix>.nii.gz)")
    target = BidsName(entities=data_name.entities, suffix=suffix, extension=extension)
    found = []
    for level in _levels(root, data_path.parent):
        matches = sorted(p for p in level.glob(f"*{extension}") if _applies(p, target))
        if len(matches) > 1:
            names = ", ".join(p.name for p in matches)
            raise InputError(f"{level}: {len(matches)} {suffix}{extension} files apply to {data_path.name} at one "
                             f"level ({names}); BIDS allows one per level (inheritance rule 4)")
        found.extend(matches)
    return found


def read_sidecar(root: Path, data_path: Path, *, suffix: str) -> Sidecar:
    """Merge the JSON sidecars that apply to ``data_path`` (top down, lower files override)."""
    files = applicable_files(root, data_path, suffix=suffix, extension=".json")
    values, origins = {}, {}
    for path in files:
        content = _read_json(path)
        values.update(content)
        origins.update({key: path for key in content})
    own = data_path.with_name(data_path.name[: -len(parse_name(data_path).extension)] + ".json")
    return Sidecar(values=values, origins=origins, files=tuple(files), own_file=own)


def _read_json(path: Path) -> dict:
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"{path}: not a readable JSON file ({err})") from err
    if not isinstance(content, dict):
        raise InputError(f"{path}: a sidecar must hold a JSON object (key: value pairs), got {type(content).__name__}")
    return content


def _applies(path: Path, target: BidsName) -> bool:
    name = parse_name(path)
    return name is not None and name.extension == target.extension and name.applies_to(target)


def _levels(root: Path, folder: Path) -> list[Path]:
    """``root`` and each folder below it down to ``folder`` (inclusive), spelled from ``root`` as given."""
    try:
        parts = folder.resolve().relative_to(root.resolve()).parts
    except ValueError:
        raise InputError(f"{folder}: not inside the BIDS root {root}") from None
    levels = [root]
    for part in parts:
        levels.append(levels[-1] / part)
    return levels

