"""ASL-BIDS to CBF: read a BIDS 1.9 ASL series (sidecar inheritance, ``aslcontext.tsv``, M0 of every ``M0Type``),
check it, quantify CBF (white paper single delay; Buxton fit of CBF and transit time for multi-delay data) and
write ``<entities>_desc-mean_cbf.nii.gz`` with its JSON. ``brainfm cbf`` is the command.

Modules: `entities` (file names), `sidecars` (inheritance), `series` (find and read), `protocol` (validate the
metadata), `m0` (calibration), `multidelay` (Buxton fit), `quantify` (CBF), `quality` (QEI with tissue maps),
`derivatives` (write), `command` (the CLI), `demo` (a tiny dataset in the real format).

Every name below loads its module on first use, so ``import brainfm_lite.asl_bids`` is instant.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.asl_bids.demo import ExampleDataset, write_example_dataset
    from brainfm_lite.asl_bids.derivatives import cbf_file_name, write_results
    from brainfm_lite.asl_bids.protocol import AslProtocol, read_protocol
    from brainfm_lite.asl_bids.quality import tissue_qei
    from brainfm_lite.asl_bids.quantify import CbfResult, compute_cbf, quantify_participant
    from brainfm_lite.asl_bids.series import AslSeries, find_series, read_series

__all__ = [
    "AslProtocol", "AslSeries", "CbfResult", "ExampleDataset", "cbf_file_name", "compute_cbf", "find_series",
    "quantify_participant", "read_protocol", "read_series", "tissue_qei", "write_example_dataset", "write_results",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
