#!/usr/bin/env python
"""Execute the book's chapters at a profile and render the HTML (what `make book` runs).

    python data_scripts/run_book.py --profile smoke
    python data_scripts/run_book.py --profile colab --chapters 01_data
    python data_scripts/run_book.py --profile full --store-reference     # on a GPU server
"""

import sys
from pathlib import Path

from brainfm_lite.cli import main

if __name__ == "__main__":
    sys.exit(main(["book", "--root", str(Path(__file__).resolve().parents[1]), *sys.argv[1:]]))
