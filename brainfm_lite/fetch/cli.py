"""`brainfm data ...` (and data_scripts/fetch_data.py): list, describe and download the public datasets of the book,
or prepare a fastMRI download.

    brainfm data list
    brainfm data info ixi
    brainfm data fetch openneuro_asl --allow-unpinned [--data-dir D] [--files F ...]
    brainfm data prepare-fastmri ~/Downloads/multicoil_val [--data-dir D]

The data directory is --data-dir, else $BRAINFM_DATA, else ~/brainfm_data. The logic lives in
brainfm_lite.fetch.registry and brainfm_lite.fetch.dataset_files; this module only parses arguments and prints.
Exit codes and error lines follow brainfm_lite.cli_conventions, like every `brainfm` command.
"""

from __future__ import annotations

import argparse
import logging

from brainfm_lite.cli_conventions import EXIT_CODES_HELP, EXIT_OK, OneLineErrorParser, run_command
from brainfm_lite.fetch.dataset_files import LOCK_FILENAME, fetch, prepare_fastmri
from brainfm_lite.fetch.download import data_dir
from brainfm_lite.fetch.registry import DATASETS, get_dataset

TRUST_ON_FIRST_USE = (
    "Files without a published sha256 are trusted on first use: the first download is accepted as it is, its "
    "sha256 is written to <data_dir>/<dataset>/{lock}, and every later fetch must match it. This catches a file "
    "that changes or gets corrupted later; it cannot prove that the first download was the right file."
).format(lock=LOCK_FILENAME)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="brainfm data", description=__doc__, epilog=EXIT_CODES_HELP,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="one line per dataset")
    info = commands.add_parser("info", help="everything about one dataset")
    info.add_argument("name")
    get = commands.add_parser("fetch", help="download, verify and unpack an open dataset")
    get.add_argument("name")
    get.add_argument("--data-dir", help="data directory (default: $BRAINFM_DATA, else ~/brainfm_data)")
    get.add_argument("--allow-unpinned", action="store_true", help="trust files without a published sha256")
    get.add_argument("--files", nargs="+", help="only these files of the dataset")
    get.add_argument("--no-progress", action="store_true", help="no progress bars")
    prepare = commands.add_parser("prepare-fastmri", help="check and index fastMRI .h5 files you downloaded")
    prepare.add_argument("src", help="folder holding the unpacked .h5 files")
    prepare.add_argument("--data-dir", help="data directory (default: $BRAINFM_DATA, else ~/brainfm_data)")
    return parser


def print_list() -> None:
    for dataset in DATASETS.values():
        print(f"{dataset.name:15} {dataset.access:7} {dataset.title}")
        print(f"{'':23} licence: {dataset.licence}; size: {dataset.approx_size}")


def print_info(name: str) -> None:
    dataset = get_dataset(name)
    print(f"{dataset.name}: {dataset.title}")
    print(f"  licence:   {dataset.licence} ({dataset.licence_url})")
    print(f"  homepage:  {dataset.homepage}")
    print(f"  size:      {dataset.approx_size}")
    print(f"  access:    {dataset.access}")
    print(f"  used for:  {dataset.used_for}")
    for item in dataset.files:
        print(f"  file:      {item.filename}\n             {item.url}")
        print(f"             sha256: {item.sha256 or 'none published (trust on first use)'}")
    print(f"\n{dataset.instructions}")


def run(args: argparse.Namespace) -> int:
    """Carry out the parsed data command; errors propagate (`main` and `brainfm` report them as one line)."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.command == "list":
        print_list()
    elif args.command == "info":
        print_info(args.name)
    elif args.command == "fetch":
        if args.allow_unpinned:
            print(TRUST_ON_FIRST_USE)
        print(f"Data directory: {data_dir(args.data_dir)}")
        folder = fetch(
            args.name,
            data_dir=args.data_dir,
            allow_unpinned=args.allow_unpinned,
            files=args.files,
            progress=not args.no_progress,
        )
        print(f"{args.name} is ready in {folder}")
    elif args.command == "prepare-fastmri":
        folder = prepare_fastmri(args.src, data_dir=args.data_dir)
        print(f"fastMRI files checked and indexed in {folder}")
    return EXIT_OK


# A download interrupted by Ctrl-C keeps its .part file; the same command resumes it.
INTERRUPTED_HINT = "; run the same command again to resume"


def main(argv: list[str] | None = None) -> int:
    """`brainfm data ARGS` as a function: the exit code (0, 1 runtime error, 2 usage, 130 interrupted)."""
    args = build_parser().parse_args(argv)
    return run_command("brainfm data", lambda: run(args), interrupted_hint=INTERRUPTED_HINT)
