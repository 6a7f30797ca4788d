"""`brainfm` command line; subcommands mirror the book's chapters.

    brainfm --version
    brainfm book --profile smoke|PROFILE.yaml [--set KEY=VALUE ...] [--chapters 01_data ...] [--no-render] [--strict]
    brainfm cohort --n 12 --spacing-mm 4 --seed 0 --out DIR     # write the embedded cohort as BIDS-like NIfTI
    brainfm preprocess IN.nii.gz OUT.nii.gz [--spacing-mm 2] [--register rigid|affine|none]
    brainfm cbf BIDS_ROOT --participant L [--session S] [--out DIR] [--gm P --wm P --csf P]   # ASL-BIDS -> CBF
    brainfm features --encoder DIR INPUT... --out FILE.csv   # T1 scans (or CBF maps) -> encoder features, one row each
    brainfm recon FILE.h5 --R 4 --out DIR [--prior DIR] [--mask retrospective|acquired]   # fastMRI file -> recon
    brainfm data list | info NAME | fetch NAME [--allow-unpinned] [--data-dir D] | prepare-fastmri SRC
    brainfm pretrain mae --profile smoke [--out DIR] [--resume] [--set n_asl_subjects=50 ...]
    brainfm pretrain simclr|seqinv|mae_structural|simclr_cbf --profile smoke [--variant seqinv|seqaug|baseline]
    brainfm evaluate asl --encoder DIR --profile smoke [--out FILE] [--modes probe finetune] [--tasks ...]
    brainfm evaluate structural --profile colab [--out DIR] [--methods scratch simclr seqinv ...]   # the comparison
    brainfm evaluate recon --profile colab [--out DIR] [--jobs N]    # diffusion reconstruction, chapter 8
    brainfm results asl --profile reference [--run-dir DIR] [--out FILE] [--resume]   # the book's recorded results
    brainfm results structural --profile reference [--run-dir DIR] [--out FILE] [--resume]   # chapters 6-7
    brainfm plan --profile colab [--gpu t4|a100|h100] [--json FILE]   # each chapter's FLOPs, memory, GPU time

Every --profile takes a name (smoke, reference, colab, full) or a YAML path, and --set KEY=VALUE overrides.
Exit codes, the same for every subcommand (brainfm_lite.cli_conventions): 0 success; 1 runtime error (any other
BrainFMError: a download, checksum or book build that failed, a failed chapter; or the file system refused);
2 usage error (argparse, or an InputError: a bad option value, profile or input file); 130 interrupted (Ctrl-C).
An error is one line on stderr, "brainfm <command>: <what is wrong>", without a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from brainfm_lite import __version__
from brainfm_lite.cli_conventions import EXIT_CODES_HELP, OneLineErrorParser, run_command
from brainfm_lite.errors import InputError


def _book(args) -> int:
    from brainfm_lite.book_runner import run_book
    from brainfm_lite.provenance import repo_root

    root = repo_root(args.root)  # the checkout holding --root (default: the working directory)
    if root is None:
        where = f"--root {args.root} is not" if args.root else "the working directory is not"
        print(f"brainfm book: {where} inside a brainfm-lite checkout (a folder with _toc.yml and brainfm_lite/); "
              "run it from a clone of the repository or pass --root", file=sys.stderr)
        return 2
    run = run_book(root, profile_name=args.profile_name, overrides=_overrides(args), chapters=args.chapters,
                   build_dir=args.build_dir, render=not args.no_render, warnings_as_errors=args.strict,
                   store_reference=args.store_reference)
    for chapter in run.chapters:
        status = "ok" if chapter.ok else f"FAILED ({chapter.error}); see {chapter.executed}"
        print(f"{chapter.chapter:<28} {chapter.wall_time_s:>7.1f} s  {status}")
    if run.html:
        print(f"HTML book: {run.html / 'index.html'}")
    return 0 if run.ok else 1


def _cohort(args) -> int:
    from brainfm_lite.sim.bids import write_bids
    from brainfm_lite.sim.cohort import make_cohort

    out = _folder("--out", args.out)
    cohort = make_cohort(args.n, seed=args.seed, spacing_mm=args.spacing_mm, n_sites=args.sites)
    print(f"wrote {write_bids(cohort, out)}")
    return 0


def _preprocess(args) -> int:
    from brainfm_lite.data.io import load_volume, save_volume
    from brainfm_lite.preprocess.pipeline import preprocess

    register = None if args.register == "none" else args.register
    volume = load_volume(args.input)
    try:
        out = preprocess(volume, spacing_mm=args.spacing_mm, register=register)
    except RuntimeError as err:  # SimpleITK's own errors: one line naming the file, not an ITK traceback
        if "SimpleITK" not in str(err):
            raise
        reason = str(err).strip().splitlines()[-1]
        raise InputError(f"{args.input}: preprocessing failed in SimpleITK ({reason}); a volume of shape "
                         f"{volume.shape} may be too small for bias-field correction and registration") from err
    print(f"wrote {save_volume(out, args.output)}")
    return 0


def _data(args) -> int:
    from brainfm_lite.fetch.cli import main as data_main

    return data_main(args.rest)


def _profile(args):
    """The profile named by --profile with the --set KEY=VALUE overrides, every value checked.

    Each VALUE is read as its field's type (8, 3e-4, true, tiny, [8, 16] or 8,16), not guessed by YAML.
    """
    from brainfm_lite.config import load_profile

    return load_profile(args.profile_name, **_overrides(args))


def _overrides(args) -> dict[str, str]:
    """The --set KEY=VALUE options as {KEY: VALUE}; the values stay text, `load_profile` reads each as its type."""
    overrides = {}
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"--set takes KEY=VALUE; got {item!r}")
        overrides[key.strip()] = value
    return overrides


def _folder(option: str, value) -> Path:
    """The folder an option names; InputError when a file is there."""
    path = Path(value)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: is a file; give a folder (it is created when missing)")
    return path


def _file(option: str, value) -> Path:
    """The file an option names; InputError when a folder is there."""
    path = Path(value)
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; give a file name")
    return path


def _pretrain(args) -> int:
    # The profile is checked first, before torch is imported (seconds). The methods are checked here, not by
    # argparse choices: reading PRETRAINERS imports torch, which every other command would then pay for.
    profile = _profile(args)
    name = args.variant if args.objective == "seqinv" else args.objective
    out = _folder("--out", args.out or f"runs/pretrain_{name}_{_profile_label(args)}")
    from brainfm_lite.train import distributed
    from brainfm_lite.train.pretrain import PRETRAINERS

    if args.objective not in PRETRAINERS:
        raise InputError(f"unknown pretraining method {args.objective!r}: choose one of {', '.join(PRETRAINERS)}")
    options = dict(resume=args.resume, n_jobs=args.jobs)
    if args.objective == "seqinv":
        options["variant"] = args.variant
    encoder_dir = PRETRAINERS[args.objective](profile, out, **options)
    if distributed.is_main():  # under torchrun, one line for the run, not one a process
        print(f"wrote {encoder_dir}")
    return 0


def _evaluate(args) -> int:
    if args.benchmark == "structural":
        return _compare(args)
    if args.benchmark == "recon":
        return _recon(args)
    if not args.encoder:
        raise InputError("evaluate asl needs --encoder DIR (a saved encoder folder)")
    profile = _profile(args)
    out = _file("--out", args.out or Path(args.encoder).parent / "asl_results.json")
    from brainfm_lite.eval.asl_evaluation import evaluate_asl

    cache = Path(args.encoder).parent / "cbf_cache"  # pretrain_mae's cache, when the encoder came from it
    evaluate_asl(profile, args.encoder, out, modes=args.modes, tasks=args.tasks, fractions=args.fractions,
                 cache_dir=cache if cache.is_dir() else None)
    print(f"wrote {out}")
    return 0


def _compare(args) -> int:
    profile = _profile(args)
    out = _folder("--out", args.out or f"runs/comparison_{_profile_label(args)}")
    from brainfm_lite.eval.comparison import compare_methods

    compare_methods(profile, out, methods=args.methods, n_jobs=args.jobs, resume=args.resume)
    print(f"wrote {out / 'comparison.json'}")
    return 0


def _recon(args) -> int:
    profile = _profile(args)
    out = _folder("--out", args.out or f"runs/recon_{_profile_label(args)}")
    from brainfm_lite.eval.recon_experiments import RESULTS_FILE, run_recon_experiments

    run_recon_experiments(profile, out, n_jobs=args.jobs, resume=args.resume)
    print(f"wrote {out / RESULTS_FILE}")
    return 0


def _results(args) -> int:
    profile = _profile(args)
    run_dir = _folder("--run-dir", args.run_dir or f"runs/results_{args.target}_{_profile_label(args)}")
    out = _file("--out", args.out) if args.out else None
    if args.target == "recon":
        return _results_recon(args, profile, run_dir, out)
    if args.target == "structural":
        return _results_structural(args, profile, run_dir, out)
    from brainfm_lite.eval.reference_results import FinetuneGrid, asl_reference_results, asl_results_path

    out = out or asl_results_path(profile.name)
    finetune = FinetuneGrid(encoders=tuple(args.finetune_encoders), tasks=tuple(args.finetune_tasks),
                            fractions=tuple(args.finetune_fractions))
    results = asl_reference_results(profile, run_dir, resume=args.resume, out=out, finetune=finetune,
                                    n_jobs=args.jobs, command="brainfm " + " ".join(args.argv))
    return _print_recorded(results, out)


def _print_recorded(results: dict, out: Path) -> int:
    """Each claim's verdict and where the results went (every `brainfm results` target)."""
    for claim in results["claims"]:
        print(f"{claim['verdict']:>15}: {claim['reason']}")
    print(f"wrote {out} in {results['provenance']['wall_time_s']['total'] / 60:.1f} min")
    return 0


def _results_recon(args, profile, run_dir: Path, out: Path | None) -> int:
    from brainfm_lite.eval.recon_results import recon_reference_results, recon_results_path

    out = out or recon_results_path(profile.name)
    results = recon_reference_results(profile, run_dir, resume=args.resume, out=out, n_jobs=args.jobs,
                                      command="brainfm " + " ".join(args.argv))
    return _print_recorded(results, out)


def _results_structural(args, profile, run_dir: Path, out: Path | None) -> int:
    from brainfm_lite.eval.structural_results import structural_reference_results, structural_results_path

    out = out or structural_results_path(profile.name)
    results = structural_reference_results(profile, run_dir, resume=args.resume, out=out, n_jobs=args.jobs,
                                           command="brainfm " + " ".join(args.argv))
    return _print_recorded(results, out)


def _plan(args) -> int:
    profile = _profile(args)
    out = _file("--json", args.json) if args.json else None
    from brainfm_lite.plan import format_plan, plan_profile, write_plan_json

    plan = plan_profile(profile, args.gpu)
    print(format_plan(plan))
    if out is not None:
        print(f"wrote {write_plan_json(plan, out)}")
    return 0


def _profile_label(args) -> str:
    """The profile's name for default run folders: "colab" for --profile colab, the file stem for a YAML path."""
    return Path(args.profile_name).stem


def _add_profile_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", dest="profile_name", default="smoke",
                        help="smoke, reference, colab, full or a YAML path")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a profile value, e.g. --set mae_steps=100 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="brainfm", description=__doc__, epilog=EXIT_CODES_HELP,
                                formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--version", action="version", version=f"brainfm {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)  # subparsers are OneLineErrorParsers too

    book = sub.add_parser("book", help="execute chapters at a profile and render the HTML book")
    _add_profile_options(book)
    book.add_argument("--chapters", nargs="*", help="notebook stems, e.g. 01_data (default: all)")
    book.add_argument("--root", help="repository root (default: found from the working directory)")
    book.add_argument("--build-dir", help="output folder named _build (default: <root>/_build)")
    book.add_argument("--no-render", action="store_true", help="execute only, skip the HTML")
    book.add_argument("--strict", action="store_true", help="treat Sphinx warnings as errors")
    book.add_argument("--store-reference", action="store_true",
                      help="copy each chapter's metrics JSON to book/results/<profile>/ (reference runs)")
    book.set_defaults(func=_book)

    cohort = sub.add_parser("cohort", help="write the embedded synthetic cohort as BIDS-like NIfTI")
    cohort.add_argument("--n", type=int, default=12)
    cohort.add_argument("--seed", type=int, default=0)
    cohort.add_argument("--spacing-mm", type=float, default=4.0, help="voxel size, mm (a whole number)")
    cohort.add_argument("--sites", type=int, default=3)
    cohort.add_argument("--out", required=True)
    cohort.set_defaults(func=_cohort)

    prep = sub.add_parser("preprocess", help="RAS, bias field, registration to MNI, mask, normalise one volume")
    prep.add_argument("input")
    prep.add_argument("output")
    prep.add_argument("--spacing-mm", type=float, default=2.0, help="output voxel size, mm")
    prep.add_argument("--register", default="rigid", choices=("rigid", "affine", "none"))
    prep.set_defaults(func=_preprocess)

    from brainfm_lite.asl_bids.command import add_cbf_parser  # light: the command imports its work when run

    add_cbf_parser(sub)  # brainfm cbf BIDS_ROOT --participant L: ASL-BIDS -> mean CBF (brainfm_lite/asl_bids)

    from brainfm_lite.features.command import add_features_parser

    add_features_parser(sub)  # brainfm features --encoder DIR INPUT...: scans -> features (brainfm_lite/features)

    from brainfm_lite.fastmri.command import add_recon_parser

    add_recon_parser(sub)  # brainfm recon FILE.h5 --R 4 --out DIR: fastMRI file -> recon (brainfm_lite/fastmri)

    # Everything after "data" goes to the data CLI (brainfm_lite.fetch.cli), which has its own --help; it is parsed
    # there so that other commands do not import the fetch package (h5py, seconds). No prefix character of this
    # parser is "-", so a leading "--help" or "--data-dir" is handed on instead of being refused here.
    data = sub.add_parser("data", help="real public datasets: list | info NAME | fetch NAME | prepare-fastmri SRC",
                          add_help=False, prefix_chars="+")
    data.add_argument("rest", nargs=argparse.REMAINDER)
    data.set_defaults(func=_data)

    pretrain = sub.add_parser("pretrain", help="pretrain an encoder: mae (masked autoencoder on ASL CBF maps), "
                              "simclr (structural T1), seqinv (contrasts simulated from qMRI maps), mae_structural "
                              "(masked autoencoder on structural T1), simclr_cbf (SimCLR on the CBF maps, the MAE's "
                              "ViT)")
    pretrain.add_argument("objective", metavar="METHOD",
                          help="a pretraining method of brainfm_lite.train.pretrain.PRETRAINERS: mae, simclr, seqinv, "
                          "mae_structural, simclr_cbf")
    pretrain.add_argument("--variant", default="seqinv", choices=("seqinv", "seqaug", "baseline"),
                          help="seqinv only: two random contrasts, one random contrast twice, or MPRAGE twice")
    _add_profile_options(pretrain)
    pretrain.add_argument("--out", help="run folder (default: runs/pretrain_<objective or variant>_<profile>)")
    pretrain.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    pretrain.add_argument("--jobs", type=int, default=1,
                          help="processes simulating the maps into the cache before training (-1: one per core)")
    pretrain.set_defaults(func=_pretrain)

    evaluate = sub.add_parser("evaluate", help="downstream evaluation: asl (diagnoses and CBF quality, cross-site); "
                              "structural (pretrain every method, then structural classification and dense tasks); "
                              "recon (diffusion reconstruction at R = 2, 4, 8 and the fine-tuning sweep)")
    evaluate.add_argument("benchmark", choices=("asl", "structural", "recon"))
    evaluate.add_argument("--encoder", help="asl: folder of a saved encoder (save_pretrained)")
    _add_profile_options(evaluate)
    evaluate.add_argument("--out", help="asl: results JSON (default: asl_results.json beside the encoder folder); "
                          "structural: run folder (default: runs/comparison_<profile>); "
                          "recon: run folder (default: runs/recon_<profile>)")
    evaluate.add_argument("--methods", nargs="+", default=["scratch", "simclr", "seqinv", "seqaug", "baseline", "mae"],
                          choices=("scratch", "simclr", "seqinv", "seqaug", "baseline", "mae"),
                          help="structural: pretraining methods to compare")
    evaluate.add_argument("--jobs", type=int, default=1, help="structural, recon: processes simulating subjects")
    evaluate.add_argument("--resume", action="store_true",
                          help="structural, recon: continue every training run from its last checkpoint in the run "
                          "folder (finished runs are not trained again)")
    evaluate.add_argument("--modes", nargs="+", default=["probe", "finetune"], choices=("probe", "finetune"))
    evaluate.add_argument("--tasks", nargs="+", default=["alzheimers", "vascular", "ftd", "qei"],
                          choices=("alzheimers", "vascular", "ftd", "qei"))
    evaluate.add_argument("--fractions", nargs="+", type=float, default=[1.0, 0.2, 0.05],
                          help="shares of the training labels")
    evaluate.set_defaults(func=_evaluate)

    results = sub.add_parser("results", help="the book's recorded results of a chapter, by one resumable command: "
                             "asl (chapters 4-5: MAE vs SimCLR on CBF maps vs random init vs regional CBF, ICHOR's "
                             "claims judged, weights exported); recon (chapter 8: diffusion priors trained on the 20, "
                             "pretrained, fine-tuned, on many; DDIM vs DDPM; the stroke DPM paper's claims judged); "
                             "structural (chapters 6-7: SimCLR, SeqInv, SeqAug, baseline, MAE, scratch on one split, "
                             "3D-Neuro-SimCLR's and the sequence-invariant paper's claims judged, weights exported)")
    results.add_argument("target", choices=("asl", "recon", "structural"))
    _add_profile_options(results)
    results.add_argument("--run-dir", help="folder of the cache, pretraining runs and finished evaluation parts "
                         "(default: runs/results_<target>_<profile>)")
    results.add_argument("--out", help="results JSON (default: book/results/<profile>/<target>.json, weights beside)")
    results.add_argument("--resume", action="store_true",
                         help="skip every finished stage in the run folder; interrupted pretraining continues")
    results.add_argument("--jobs", type=int, default=-1, help="processes simulating the maps (-1: one per core)")
    results.add_argument("--finetune-encoders", nargs="*", default=["mae", "simclr_cbf", "random_init"],
                         choices=("mae", "simclr_cbf", "random_init"), help="encoders to fine-tune (none: probe only)")
    results.add_argument("--finetune-tasks", nargs="*", default=["alzheimers", "vascular", "ftd", "qei"],
                         choices=("alzheimers", "vascular", "ftd", "qei"), help="tasks to fine-tune on")
    results.add_argument("--finetune-fractions", nargs="*", type=float, default=[1.0, 0.2, 0.05],
                         help="label fractions to fine-tune at (the probe runs all three)")
    results.set_defaults(func=_results)

    plan = sub.add_parser("plan", help="predict every chapter run's FLOPs, memory and time on a GPU at a profile "
                          "(measured on this CPU), and whether each chapter fits (colab: a 16 GB T4, 20 min)")
    _add_profile_options(plan)
    plan.add_argument("--gpu", choices=("t4", "a100", "h100"), help="GPU to predict for (default: h100 for full, "
                      "else t4)")
    plan.add_argument("--json", help="also write the rows to this JSON file")
    plan.set_defaults(func=_plan)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `brainfm ARGV`; returns the exit code (module docstring). Usage errors, --help and --version raise
    SystemExit (code 2, 0 and 0), as argparse does."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    return run_command(f"brainfm {args.command}", lambda: args.func(args))


if __name__ == "__main__":
    sys.exit(main())
