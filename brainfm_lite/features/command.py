"""``brainfm features``: T1 scans (or CBF maps) -> one encoder feature vector per scan, as a CSV.

    brainfm features --encoder DIR INPUT... --out features.csv [--batch-size N] [--device D]

INPUT are NIfTI files (``.nii``, ``.nii.gz``) or BIDS roots (every ``sub-*/[ses-*/]anat/*_T1w.nii[.gz]``; for an
encoder of CBF maps, every ``*_cbf.nii[.gz]`` in the folder or under ``sub-*/[ses-*/]perf/``). Each scan is
prepared as the encoder's pretraining data were (the recipe in its config.json; an encoder without one is
refused), then embedded. Every input is found and read before any work and the CSV is written only when every
scan has its features, so a bad input (the message names it) leaves ``--out`` as it was. This module imports
nothing heavy until the command runs, so building the ``brainfm`` parser stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from brainfm_lite.errors import InputError


def add_features_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``features`` on the ``brainfm`` subparsers; returns the new parser."""
    parser = subparsers.add_parser(
        "features", help="T1 scans or CBF maps -> one feature vector per scan (CSV), prepared as the encoder's "
                         "pretraining data were")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="NIfTI files (.nii, .nii.gz) or BIDS roots (every *_T1w scan; *_cbf maps for a CBF "
                             "encoder)")
    parser.add_argument("--encoder", required=True, metavar="DIR",
                        help="a saved encoder folder (config.json + model.safetensors) that records its recipe")
    parser.add_argument("--out", required=True, metavar="FILE", help="CSV to write: file,f0,...,f{D-1}")
    parser.add_argument("--batch-size", type=int, default=8, metavar="N", help="scans embedded together (default 8)")
    parser.add_argument("--device", default="auto", metavar="D",
                        help="auto (CUDA when present, else CPU), cpu, cuda, cuda:<k> or mps (default auto)")
    parser.set_defaults(func=run_features)
    return parser


def run_features(args) -> int:
    """Embed every scan of ``args.inputs`` with ``args.encoder`` and write ``args.out``; returns 0."""
    out = Path(args.out).expanduser()
    if out.is_dir():  # refused before any work, not after it
        raise InputError(f"--out {out}: is a folder; give the CSV file to write, e.g. {out / 'features.csv'}")
    if args.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1; got {args.batch_size}")

    from brainfm_lite.features.extract import features_from_scans

    table = features_from_scans(args.encoder, args.inputs, batch_size=args.batch_size, device=args.device)
    path = table.to_csv(out)
    print(f"wrote {path} ({len(table)} scans x {table.features.shape[1]} features)")
    return 0
