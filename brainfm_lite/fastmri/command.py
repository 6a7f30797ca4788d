"""``brainfm recon``: a fastMRI multi-coil brain file -> a reconstruction with the shipped diffusion prior, scored.

    brainfm recon FILE.h5 --R 4 --out DIR [--prior DIR] [--mask retrospective|acquired] [--sampler ddim|ddpm]
                  [--steps N] [--slices A:B] [--seed S] [--spacing-mm MM] [--device auto]

The file is checked, the slices reconstructed and scored before anything is written, so a malformed file or a
missing prior (the message names the file and the dataset or field) leaves ``--out`` as it was. This module imports
nothing heavy until the command runs, so building the ``brainfm`` parser stays fast.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

MASK_MODES = ("retrospective", "acquired")  # as brainfm_lite.fastmri.undersampling (not imported: it is heavy)
SAMPLERS = ("ddim", "ddpm")


def add_recon_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``recon`` on the ``brainfm`` subparsers; returns the new parser."""
    parser = subparsers.add_parser(
        "recon", help="fastMRI multi-coil brain .h5 -> diffusion-prior reconstruction (NIfTI) and a JSON of "
                      "PSNR/SSIM/NMSE against reconstruction_rss")
    parser.add_argument("file", metavar="FILE.h5", help="a fastMRI multi-coil brain file")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder (created when missing)")
    parser.add_argument("--R", dest="acceleration", type=float, metavar="R",
                        help="acceleration of the retrospective mask (default 4; not with --mask acquired)")
    parser.add_argument("--prior", metavar="DIR",
                        help="diffusion prior folder (default: the shipped book/results/reference/weights/"
                             "diffusion_flair, recorded by `brainfm results recon --profile reference`)")
    parser.add_argument("--mask", choices=MASK_MODES, default="retrospective",
                        help="undersample the fully sampled k-space at --R (retrospective, default) or use the "
                             "file's own 'mask' (acquired)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="ddim", help="reverse process (default ddim)")
    parser.add_argument("--steps", type=int, metavar="N", help="DDIM steps (default: the prior's recorded count)")
    parser.add_argument("--slices", metavar="A:B", help="slices A to B - 1 of the file (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the mask and the sampler (default 0)")
    parser.add_argument("--spacing-mm", type=float, metavar="MM",
                        help="pixel size of the prior's training slices, when its folder does not record it")
    parser.add_argument("--device", default="auto", help="auto (a GPU when present), cpu, cuda ... (default auto)")
    parser.set_defaults(func=run_recon)
    return parser


def run_recon(args) -> int:
    """Reconstruct and score ``args.file``, then write the outputs; returns 0."""
    from brainfm_lite.errors import InputError
    from brainfm_lite.fastmri.h5file import parse_slices
    from brainfm_lite.fastmri.outputs import write_reconstruction
    from brainfm_lite.fastmri.pipeline import reconstruct_fastmri
    from brainfm_lite.provenance import environment, resolve_device

    out = Path(args.out).expanduser()
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: is a file; give a folder (it is created when missing)")
    acceleration = args.acceleration
    if acceleration is None and args.mask == "retrospective":
        acceleration = 4.0
    result = reconstruct_fastmri(args.file, args.prior, acceleration=acceleration, mask=args.mask,
                                 sampler=args.sampler, steps=args.steps, slices=parse_slices(args.slices),
                                 seed=args.seed, spacing_mm=args.spacing_mm, device=args.device,
                                 progress=sys.stderr.isatty())
    provenance = {**environment(resolve_device(args.device)), "command": command_line(args)}
    for path in write_reconstruction(result, out, provenance=provenance):
        print(f"wrote {path}")
    for name, score in result.scores.items():
        print(f"{name}: PSNR {score['psnr']:.2f} dB, SSIM {score['ssim']:.3f}, NMSE {score['nmse']:.4f}")
    return 0


def command_line(args) -> str:
    """The command as typed (``args.argv``, which the ``brainfm`` entry point sets), else rebuilt from `args`."""
    argv = getattr(args, "argv", None)
    if argv:
        return "brainfm " + shlex.join(argv)
    words = ["recon", str(args.file), "--out", str(args.out), "--mask", args.mask, "--sampler", args.sampler,
             "--seed", str(args.seed), "--device", args.device]
    for option, value in (("--R", args.acceleration), ("--prior", args.prior), ("--steps", args.steps),
                          ("--slices", args.slices), ("--spacing-mm", args.spacing_mm)):
        if value is not None:
            words += [option, str(value)]
    return "brainfm " + shlex.join(words)
