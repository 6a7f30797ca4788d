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
from brainfm_lite.fetch.registry import DATASETS, Dataset, DatasetFile, get_dataset

TRUST_ON_FIRST_USE = (
    "Files without a published checksum (sha256 or md5) are trusted on first use: the first download is accepted "
    "as it is, its sha256 is written to <data_dir>/<dataset>/{lock}, and every later fetch must match it. This "
    "catches a file that changes or gets corrupted later; it cannot prove that the first download was the right file."
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
    get.add_argument("--allow-unpinned", action="store_true", help="trust files without a published checksum")
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
        if dataset.files:
            print(f"{'':23} checksums: {pin_summary(dataset)}")


def pin_summary(dataset: Dataset) -> str:
    """How a dataset's files are pinned, in words, e.g. ``"md5 published for 3 of 4 files; 1 trusted on first use"``."""
    pins = [item.checksum for item in dataset.files if item.checksum is not None]
    algorithms = " and ".join(sorted({pin.algorithm for pin in pins}))
    published = f"{algorithms} published for {len(pins)} of {len(dataset.files)} files" if pins else "none published"
    unpinned = len(dataset.files) - len(pins)
    return f"{published}; {unpinned} trusted on first use" if unpinned else published


def describe_pin(item: DatasetFile) -> str:
    """A file's pin as ``info`` shows it: ``"md5:<hex> (published)"``, or how an unpinned file is checked."""
    if item.checksum is None:
        return f"none published (trust on first use: sha256 recorded in {LOCK_FILENAME})"
    note = "; md5 detects corruption and change, not tampering" if item.checksum.algorithm == "md5" else ""
    return f"{item.checksum} (published{note})"


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
        print(f"             checksum: {describe_pin(item)}")
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
