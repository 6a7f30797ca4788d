"""Real public datasets: the registry (URL, hash, licence), verified and resumable downloads with safe extraction,
and the ``brainfm data`` command. Nothing here runs unless a user calls it."""

from brainfm_lite.fetch.download import data_dir, fetch, prepare_fastmri
from brainfm_lite.fetch.registry import DATASETS, Dataset, DatasetFile, get_dataset

__all__ = ["DATASETS", "Dataset", "DatasetFile", "data_dir", "fetch", "get_dataset", "prepare_fastmri"]
