"""Real public datasets: the registry (URL, hash, licence), verified and resumable downloads, safe extraction, the
fetch of a whole dataset, and the ``brainfm data`` command. Nothing here runs unless a user calls it.

Modules: `registry` (what exists), `checksums` (``sha256:`` and ``md5:`` pins), `download` (one file over http(s)),
`locks` (fcntl file locks), `archives` (safe extraction), `dataset_files` (fetch a registered dataset; prepare a
fastMRI download), `cli`.
"""

from brainfm_lite.fetch.checksums import Checksum
from brainfm_lite.fetch.dataset_files import fetch, prepare_fastmri
from brainfm_lite.fetch.download import data_dir
from brainfm_lite.fetch.registry import DATASETS, Dataset, DatasetFile, get_dataset

__all__ = ["DATASETS", "Checksum", "Dataset", "DatasetFile", "data_dir", "fetch", "get_dataset", "prepare_fastmri"]
