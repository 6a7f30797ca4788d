"""Volumes and files: the `Volume` type, NIfTI reading and writing with validation, checks, the SimpleITK bridge.

The bottom of the data stack (``data`` <- ``preprocess`` <- ``sim`` <- ``datasets``): nothing here imports the
other three.
"""

from brainfm_lite.data.io import load_volume, save_volume
from brainfm_lite.data.volume import Volume

__all__ = ["Volume", "load_volume", "save_volume"]
