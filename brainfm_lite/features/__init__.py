"""Your own scans -> encoder features.

T1 scans (or CBF maps) are prepared as an encoder's pretraining data were (the recipe it records), then embedded.
``brainfm features`` is the command; `features_from_scans` the Python API.

Modules: `recipe` (the preprocessing recorded beside an encoder), `inputs` (files and BIDS roots -> scan files,
read and checked), `scans` (one scan -> network input; a dataset of them), `table` (features with file names, CSV),
`extract` (the whole path), `command` (the CLI), `demo` (a small BIDS folder of T1 scans in the real format; the
IXI T1 scans when fetched).

Every name below loads its module on first use, so ``import brainfm_lite.features`` is instant.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.features.demo import ExampleT1Dataset, local_ixi_t1_scans, write_example_t1_dataset
    from brainfm_lite.features.extract import features_from_scans, resolve_device
    from brainfm_lite.features.inputs import bids_scans, check_scans, expand_inputs
    from brainfm_lite.features.recipe import Recipe, pretraining_recipe, read_recipe
    from brainfm_lite.features.scans import ScanDataset, preprocess_scan
    from brainfm_lite.features.table import FeatureTable

__all__ = [
    "ExampleT1Dataset", "FeatureTable", "Recipe", "ScanDataset", "bids_scans", "check_scans", "expand_inputs",
    "features_from_scans", "local_ixi_t1_scans", "preprocess_scan", "pretraining_recipe", "read_recipe",
    "resolve_device", "write_example_t1_dataset",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
