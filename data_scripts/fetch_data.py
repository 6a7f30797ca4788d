#!/usr/bin/env python
"""List, describe and download the public datasets of the book, or prepare a fastMRI download.

    python data_scripts/fetch_data.py list
    python data_scripts/fetch_data.py info ixi
    python data_scripts/fetch_data.py fetch openneuro_asl --allow-unpinned [--data-dir D] [--files F ...]
    python data_scripts/fetch_data.py prepare-fastmri ~/Downloads/multicoil_val [--data-dir D]

The same as `brainfm data ...`; the code is brainfm_lite.fetch.cli.
"""

import sys

from brainfm_lite.fetch.cli import main

if __name__ == "__main__":
    sys.exit(main())
