"""The public MRI datasets the book can use, in one place: where each file lives, its checksum, licence and purpose.

Nothing here downloads anything; `brainfm_lite.fetch.dataset_files.fetch` does, on request only.

Checksums. A file is pinned by a digest its provider published, written ``"sha256:<hex>"`` or ``"md5:<hex>"``
(`brainfm_lite.fetch.checksums`); a download must match it before it gets its name, and a present file is kept only
if it matches. MD5 is weak against an attacker, who can make a second file with the same MD5, but it catches a
corrupted, truncated or changed download; it is used where a provider publishes nothing stronger. The three IXI
archives are pinned by the MD5 sums TorchIO publishes for them (``torchio.datasets.IXI.md5_dict``). A file no
provider publishes a digest for (IXI.xls, the OpenNeuro files, the hMRI archive) has ``checksum=None``: `fetch`
refuses it unless the caller opts in with ``allow_unpinned=True`` (CLI ``--allow-unpinned``), and then trusts the
first download and writes its sha256 to a lock file that every later fetch checks (trust on first use). fastMRI
sends a SHA256 list by e-mail with its download links; its files are checked by the user (see its instructions).

Access. ``"open"`` datasets download with `fetch`; ``"manual"`` ones (fastMRI, behind a data sharing agreement)
cannot: their ``instructions`` say how to obtain the files, and `prepare_fastmri` checks and indexes what the user
downloaded.
"""

from __future__ import annotations

import difflib
import urllib.parse
from dataclasses import dataclass
from typing import Literal

from brainfm_lite.errors import InputError
from brainfm_lite.fetch.checksums import Checksum


@dataclass(frozen=True)
class DatasetFile:
    """One file of a dataset.

    Attributes:
        url: https address of the file.
        filename: path of the file inside the dataset's folder, relative and with ``/`` separators.
        checksum: the digest the provider published, given as ``"sha256:<hex>"`` or ``"md5:<hex>"`` (or a
            `Checksum`) and stored as a `Checksum`; None where none is published (trust on first use, see the
            module docstring).
        size_bytes: exact size in bytes where known, else None.
        extract_to: for an archive, the sub-folder (of the dataset's folder) it is unpacked into; None for a
            file that is used as it is.

    Raises:
        InputError: ``checksum`` names an unknown algorithm or its hex value is malformed (the message names the
            file).
    """

    url: str
    filename: str
    checksum: Checksum | None = None
    size_bytes: int | None = None
    extract_to: str | None = None

    def __post_init__(self) -> None:
        if self.checksum is not None and not isinstance(self.checksum, Checksum):
            pin = Checksum.parse(self.checksum, what=f"dataset file {self.filename}")
            object.__setattr__(self, "checksum", pin)  # frozen: the parsed form replaces the written one


@dataclass(frozen=True)
class Dataset:
    """A public dataset, its terms of use and what the book does with it.

    Attributes:
        name: short key, also the dataset's folder name under the data directory.
        title: human-readable name.
        files: the files `fetch` downloads (empty for a manual dataset).
        licence: licence or terms of use, in a few words.
        licence_url: where the full terms are.
        homepage: the provider's page for the dataset.
        approx_size: download size in words (e.g. "about 4.5 GB per archive").
        used_for: which chapter uses it and why.
        access: "open" (downloadable by `fetch`) or "manual" (the user downloads it after accepting terms).
        instructions: what to do by hand: citation, where the files land, how to get the rest of the data.
    """

    name: str
    title: str
    files: tuple[DatasetFile, ...]
    licence: str
    licence_url: str
    homepage: str
    approx_size: str
    used_for: str
    access: Literal["open", "manual"]
    instructions: str


_IXI_BASE = "https://biomedic.doc.ic.ac.uk/brain-development/downloads/IXI"

# The MD5 sums TorchIO publishes for the IXI archives (torchio/datasets/ixi.py, IXI.md5_dict); no sha256 is published.
_IXI_MD5 = {
    "T1": "34901a0593b41dd19c1a1f746eac2d58",
    "T2": "e3140d78730ecdd32ba92da48c0a9aaa",
    "PD": "88ecd9d1fa33cb4a2278183b42ffd749",
}

IXI = Dataset(
    name="ixi",
    title="IXI: nearly 600 healthy adult brains, T1, T2 and PD weighted, three London hospitals",
    files=(
        *(
            DatasetFile(f"{_IXI_BASE}/IXI-{c}.tar", f"IXI-{c}.tar", f"md5:{_IXI_MD5[c]}", extract_to=f"IXI-{c}")
            for c in ("T1", "T2", "PD")
        ),
        DatasetFile(f"{_IXI_BASE}/IXI.xls", "IXI.xls"),  # no published digest: trust on first use
    ),
    licence="CC BY-SA 3.0",
    licence_url="https://creativecommons.org/licenses/by-sa/3.0/legalcode",
    homepage="https://brain-development.org/ixi-dataset/",
    approx_size="about 4-5 GB per archive (T1, T2, PD), plus a small demographics spreadsheet",
    used_for=(
        "Self-supervised pretraining chapters: real T1 scans for the SimCLR chapter (3D-Neuro-SimCLR), and T1/T2/PD "
        "from three sites (Guy's 1.5 T, Hammersmith 3 T, IOP 1.5 T) for the sequence-invariant chapter "
        "(Chalcroft et al.), which trains on one site and tests on the unseen ones."
    ),
    access="open",
    instructions=(
        "Acknowledge the source, e.g. https://brain-development.org/ixi-dataset/. Each archive holds one "
        "NIfTI file per subject (IXI<id>-<site>-<scan>-<contrast>.nii.gz) and is unpacked into IXI-T1/, "
        "IXI-T2/, IXI-PD/. Fetch one contrast with files=['IXI-T1.tar'] (CLI: --files IXI-T1.tar). "
        "IXI.xls gives age and sex per IXI_ID. The archives are checked against the MD5 sums TorchIO publishes; "
        "IXI.xls has no published digest and is trusted on first use (--allow-unpinned)."
    ),
)

def openneuro_snapshot_url(dataset_id: str, version: str, path: str) -> str:
    """OpenNeuro's address of one file of a dataset snapshot, which never changes once the snapshot is published.

    The route takes the file's path as one segment, with ``/`` written ``:``, e.g.
    ``openneuro_snapshot_url("ds000240", "2.0.0", "sub-01/perf/sub-01_asl.nii.gz")`` ->
    ``https://openneuro.org/crn/datasets/ds000240/snapshots/2.0.0/files/sub-01:perf:sub-01_asl.nii.gz``.

    Args:
        dataset_id: OpenNeuro accession, e.g. ``"ds000240"``.
        version: snapshot tag, e.g. ``"2.0.0"``.
        path: the file's path inside the dataset, relative, with ``/`` separators.

    Raises:
        InputError: ``path`` is empty, absolute, or holds a ``:`` (which the route reads as a separator).
    """
    if not path or path.startswith("/") or ":" in path:
        raise InputError(f"{path!r} is not a relative path inside OpenNeuro dataset {dataset_id}")
    segment = urllib.parse.quote(path.replace("/", ":"), safe=":")
    return f"https://openneuro.org/crn/datasets/{dataset_id}/snapshots/{version}/files/{segment}"


_DS000240_VERSION = "2.0.0"  # the snapshot every ds000240 file below is taken from


def _ds000240_file(path: str) -> DatasetFile:
    """A file of ds000240 at snapshot `_DS000240_VERSION`, stored under its path in the dataset."""
    return DatasetFile(openneuro_snapshot_url("ds000240", _DS000240_VERSION, path), path)


OPENNEURO_ASL = Dataset(
    name="openneuro_asl",
    title="OpenNeuro ds000240: Resting State Perfusion in Healthy Aging (pCASL, ASL-BIDS), subject sub-01",
    files=tuple(
        _ds000240_file(path)
        for path in (
            "dataset_description.json",
            "sub-01/anat/sub-01_T1w.nii.gz",
            "sub-01/perf/sub-01_asl.nii.gz",
            "sub-01/perf/sub-01_asl.json",
            "sub-01/perf/sub-01_aslcontext.tsv",
        )
    ),
    licence="CC0 1.0 (public domain dedication)",
    licence_url="https://creativecommons.org/publicdomain/zero/1.0/",
    homepage=f"https://openneuro.org/datasets/ds000240/versions/{_DS000240_VERSION}",
    approx_size="about 20 MB for sub-01 (the whole dataset, 60 subjects, is about 1 GB)",
    used_for=(
        "ASL chapter (ICHOR): a real pCASL series (3 T Siemens Trio, 3D GRASE, labelling 1.6 s, "
        "post-labelling delay 1.5 s) to compute a CBF map with physics.asl.cbf_pcasl and score it with "
        "physics.asl.qei, next to the synthetic CBF maps the masked autoencoder is pretrained on."
    ),
    access="open",
    instructions=(
        "Cite Vidorreta et al. 2013, NeuroImage 66:662-671. The ASL series has 110 volumes: the first 10 are "
        "labelled m0scan in sub-01_aslcontext.tsv (M0 is included in the series), then 50 label/control pairs. "
        f"Files come from snapshot {_DS000240_VERSION} through OpenNeuro's file route "
        f"(https://openneuro.org/crn/datasets/ds000240/snapshots/{_DS000240_VERSION}/files/...), and a published "
        "snapshot never changes. OpenNeuro publishes no digest for them, so they are trusted on first use "
        "(--allow-unpinned): the sha256 of the first download goes to the lock file, which then catches a corrupted "
        "or truncated copy, not an update. For all 60 subjects of the same snapshot: "
        f"`openneuro download --snapshot {_DS000240_VERSION} ds000240 <folder>` (the OpenNeuro CLI)."
    ),
)

HMRI_DEMO = Dataset(
    name="hmri_demo",
    title="hMRI toolbox example dataset: multi-parameter mapping at 0.8 mm, with R1, R2*, PD and MT maps",
    files=(
        DatasetFile(
            "https://owncloud.gwdg.de/index.php/s/iv2TOQwGy4FGDDZ/download?path=%2F"
            "&files=hmri_sample_dataset_with_maps.zip",
            "hmri_sample_dataset_with_maps.zip",
            extract_to="hmri_sample_dataset_with_maps",
        ),
    ),
    licence="Free use with citation of Callaghan et al. 2019 (Data in Brief 25:104132; article CC BY 4.0)",
    licence_url="https://github.com/hMRI-group/hMRI-toolbox-demodata",  # LICENSE: use freely, cite the article
    homepage="https://github.com/hMRI-group/hMRI-toolbox-docs/blob/main/docs/docs/hmriDemoDataset.md",
    approx_size="about 1-2 GB zip (not published; estimated from 22 echo volumes at 0.8 mm plus the maps)",
    used_for=(
        "Sequence-invariant chapter (Chalcroft et al.): real quantitative maps (PD, R1, R2*, MT) of one brain, from "
        "which physics.signal simulates MPRAGE, FLASH, FSE and FLAIR contrasts of the same anatomy."
    ),
    access="open",
    instructions=(
        "Cite Callaghan et al. 2019, 'Example dataset for the hMRI toolbox', Data in Brief 25:104132, "
        "https://doi.org/10.1016/j.dib.2019.104132. The archive is linked from the hMRI toolbox documentation "
        "(GWDG ownCloud share); the raw echoes alone are also in github.com/hMRI-group/hMRI-toolbox-demodata "
        "(Git LFS). hMRI writes MT in percent units: divide by 100 before physics.signal."
    ),
)

FASTMRI_BRAIN = Dataset(
    name="fastmri_brain",
    title="fastMRI brain: multi-coil raw k-space of 1.5 T and 3 T clinical brain scans (T1, T1 post, T2, FLAIR)",
    files=(),
    licence="fastMRI Dataset Sharing Agreement (research use; no redistribution)",
    licence_url="https://fastmri.med.nyu.edu/",
    homepage="https://fastmri.med.nyu.edu/",
    approx_size="about 90-100 GB per archive (10 training, 3 validation batches)",
    used_for=(
        "Reconstruction chapter (the stroke DPM paper): real multi-coil brain k-space, FLAIR included, to "
        "undersample at R = 2, 4, 8 with physics.kspace masks and score the diffusion-prior reconstruction by PSNR "
        "and SSIM."
    ),
    access="manual",
    instructions=(
        "fastMRI is licence-gated, so brainfm_lite cannot download it for you.\n"
        "  1. Open https://fastmri.med.nyu.edu/, read and accept the Data Sharing Agreement, and submit the "
        "form. An e-mail brings time-limited download links and a SHA256 list.\n"
        "  2. Download what you need, e.g. brain_multicoil_val_batch_0.tar.xz (about 94 GB; `curl -C -` "
        "resumes), check it with `sha256sum -c` against the e-mailed list, and unpack it "
        "(`tar -xJf ...`).\n"
        "  3. Run `python data_scripts/fetch_data.py prepare-fastmri <folder with the .h5 files>` (or "
        "brainfm_lite.fetch.prepare_fastmri): it checks every file and links it into "
        "<data_dir>/fastmri_brain/ with an index.json.\n"
        "Cite the fastMRI papers the site lists (Zbontar et al. 2018, arXiv:1811.08839)."
    ),
)

#: Every dataset of the registry, by name (``brainfm data fetch NAME``).
#:
#: :meta hide-value:
DATASETS: dict[str, Dataset] = {ds.name: ds for ds in (IXI, OPENNEURO_ASL, HMRI_DEMO, FASTMRI_BRAIN)}


def get_dataset(name: str) -> Dataset:
    """Return the registered dataset called ``name``.

    Raises:
        InputError: no dataset has that name; the message lists the known names.
    """
    if name in DATASETS:
        return DATASETS[name]
    known = ", ".join(sorted(DATASETS))
    close = difflib.get_close_matches(name, DATASETS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise InputError(f"Unknown dataset {name!r}; known datasets: {known}.{hint}")
