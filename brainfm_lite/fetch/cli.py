"""`brainfm data ...` (and data_scripts/fetch_data.py): list, describe and download the public datasets of the book,
or prepare a fastMRI download.

    brainfm data list
    brainfm data info ixi
    brainfm data fetch openneuro_asl --allow-unpinned [--data-dir D] [--files F ...]
    brainfm data prepare-fastmri ~/Downloads/multicoil_val [--data-dir D]

The data directory is --data-dir, else $BRAINFM_DATA, else ~/brainfm_data. The logic lives in
brainfm_lite.fetch.registry and brainfm_lite.fetch.dataset_files; this module only parses arguments and prints.
"""

from __future__ import annotations

import argparse
import logging
import sys

from brainfm_lite.errors import BrainFMError
from brainfm_lite.fetch.dataset_files import LOCK_FILENAME, fetch, prepare_fastmri
from brainfm_lite.fetch.download import data_dir
from brainfm_lite.fetch.registry import DATASETS, get_dataset

TRUST_ON_FIRST_USE = (
    "Files without a published sha256 are trusted on first use: the first download is accepted as it is, its "
    "sha256 is written to <data_dir>/<dataset>/{lock}, and every later fetch must match it. This catches a file "
    "that changes or gets corrupted later; it cannot prove that the first download was the right file."
).format(lock=LOCK_FILENAME)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="brainfm data", description=__doc__,
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
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
    except BrainFMError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0
