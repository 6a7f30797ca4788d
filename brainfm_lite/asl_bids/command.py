"""``brainfm cbf``: an ASL-BIDS dataset -> one mean CBF map (mL/100 g/min) per ASL series of a participant.

    brainfm cbf BIDS_ROOT --participant 01 [--session 1] [--out DIR] [--gm GM.nii.gz --wm WM.nii.gz --csf CSF.nii.gz]

Every series is read, checked and quantified before anything is written, so a malformed dataset (the message
names the file and the field) leaves ``--out`` as it was. This module imports nothing heavy until the command
runs, so building the ``brainfm`` parser stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from brainfm_lite.errors import InputError

DEFAULT_OUT = Path("derivatives") / "brainfm_lite"  # under BIDS_ROOT, where BIDS puts derivatives


def add_cbf_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``cbf`` on the ``brainfm`` subparsers; returns the new parser."""
    parser = subparsers.add_parser(
        "cbf", help="ASL-BIDS dataset -> mean CBF map (mL/100 g/min) and a JSON of the parameters used, per series")
    parser.add_argument("bids_root", metavar="BIDS_ROOT", help="BIDS dataset root (holds sub-<label>/ folders)")
    parser.add_argument("--participant", required=True, metavar="LABEL", help="participant label, e.g. 01")
    parser.add_argument("--session", metavar="LABEL", help="session label (default: every session)")
    parser.add_argument("--out", metavar="DIR", help=f"output folder (default: BIDS_ROOT/{DEFAULT_OUT.as_posix()})")
    for tissue in ("gm", "wm", "csf"):
        parser.add_argument(f"--{tissue}", metavar="PATH",
                            help=f"{tissue.upper()} probability map on the ASL grid (all three: QEI in the JSON)")
    parser.set_defaults(func=run_cbf)
    return parser


def run_cbf(args) -> int:
    """Quantify every ASL series of ``args.participant``, then write the maps and sidecars; returns 0."""
    from brainfm_lite.asl_bids.derivatives import write_results
    from brainfm_lite.asl_bids.quality import tissue_qei
    from brainfm_lite.asl_bids.quantify import quantify_participant

    tissue = {"gm": args.gm, "wm": args.wm, "csf": args.csf}
    given = [name for name, path in tissue.items() if path]
    if given and len(given) != 3:
        missing = ", ".join(f"--{name}" for name, path in tissue.items() if not path)
        raise InputError(f"--gm, --wm and --csf go together (QEI needs all three); missing {missing}")
    root = Path(args.bids_root).expanduser()
    out = Path(args.out).expanduser() if args.out else root / DEFAULT_OUT
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder (it is created when missing)")

    results = quantify_participant(root, args.participant, args.session)
    if given:
        for result in results:
            result.parameters["QEI"] = tissue_qei(result, tissue["gm"], tissue["wm"], tissue["csf"])
            result.parameters["QEITissueMaps"] = {name.upper(): str(Path(path)) for name, path in tissue.items()}
    for path in write_results(results, out):
        print(f"wrote {path}")
    return 0
