"""BIDS file names: ``sub-01_ses-1_run-2_asl.nii.gz`` -> entities ``{sub: 01, ses: 1, run: 2}``, suffix ``asl``.

Only the naming rules the ASL reader needs: key-value entities joined by ``_``, a suffix, an extension. Root-level
sidecars such as ``asl.json`` have a suffix and no entities.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Extensions the reader meets; the longest match wins, so ``.nii.gz`` is not read as ``.gz``.
EXTENSIONS = (".nii.gz", ".nii", ".json", ".tsv")


@dataclass(frozen=True)
class BidsName:
    """A parsed BIDS file name.

    Attributes:
        entities: key -> label, in file-name order (``{"sub": "01", "run": "2"}``).
        suffix: the last ``_``-separated part before the extension (``asl``, ``m0scan``, ``aslcontext``).
        extension: ``.nii.gz``, ``.nii``, ``.json`` or ``.tsv``.
    """

    entities: dict
    suffix: str
    extension: str

    def applies_to(self, data: "BidsName") -> bool:
        """Whether a metadata file with this name may describe ``data`` (BIDS inheritance rules 2b and 2c).

        Same suffix, and no entity absent from (or different in) the data file's name.
        """
        return self.suffix == data.suffix and all(data.entities.get(k) == v for k, v in self.entities.items())

    def stem(self) -> str:
        """The entities joined as in the file name, without suffix and extension (``sub-01_run-2``)."""
        return "_".join(f"{key}-{label}" for key, label in self.entities.items())


def parse_name(path: str | Path) -> BidsName | None:
    """Parse a file name into entities, suffix and extension; None when it does not follow BIDS naming."""
    name = Path(path).name
    extension = next((ext for ext in EXTENSIONS if name.endswith(ext)), None)
    if extension is None:
        return None
    parts = name[: -len(extension)].split("_")
    *pairs, suffix = parts
    if not suffix or "-" in suffix:
        return None
    entities = {}
    for pair in pairs:
        key, sep, label = pair.partition("-")
        if not sep or not key or not label or key in entities:
            return None
        entities[key] = label
    return BidsName(entities=entities, suffix=suffix, extension=extension)
