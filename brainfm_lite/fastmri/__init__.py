"""fastMRI files to reconstructions: read a fastMRI multi-coil brain ``.h5`` (k-space, ``reconstruction_rss``, the
ISMRMRD header, the acquired mask), bring it to the diffusion prior's pixel size, estimate coil sensitivities from
the autocalibration lines, undersample at R or take the acquired mask, reconstruct with the shipped prior and score
zero-filling and the prior against ``reconstruction_rss`` with fastMRI's volume metrics. ``brainfm recon`` is the
command.

Modules: `header` (ISMRMRD geometry), `h5file` (read and check a file), `grid` (the prior's pixel size; the
reference on the same grid), `undersampling` (retrospective or acquired masks), `sensitivities` (from the ACS
lines), `prior` (which prior, its pixel size and DDIM steps), `pipeline` (`reconstruct_fastmri`), `outputs` (NIfTI
and JSON), `command` (the CLI), `demo` (a small file in fastMRI's format; a prepared real file when present).

Every name below loads its module on first use, so ``import brainfm_lite.fastmri`` is instant.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.fastmri.demo import ExampleFastMRIFile, local_fastmri_file, write_example_fastmri_file
    from brainfm_lite.fastmri.grid import ReconGrid, recon_grid, reference_to_grid
    from brainfm_lite.fastmri.h5file import FastMRIFile, read_fastmri
    from brainfm_lite.fastmri.header import EncodingSpace, HeaderGeometry, parse_header
    from brainfm_lite.fastmri.outputs import write_reconstruction
    from brainfm_lite.fastmri.pipeline import FastMRIReconstruction, reconstruct_fastmri
    from brainfm_lite.fastmri.prior import PriorSettings, default_prior_dir, prior_settings
    from brainfm_lite.fastmri.sensitivities import acs_block, estimate_sensitivities
    from brainfm_lite.fastmri.undersampling import acquired_mask, retrospective_mask

__all__ = [
    "EncodingSpace", "ExampleFastMRIFile", "FastMRIFile", "FastMRIReconstruction", "HeaderGeometry", "PriorSettings",
    "ReconGrid", "acquired_mask", "acs_block", "default_prior_dir", "estimate_sensitivities", "local_fastmri_file",
    "parse_header", "prior_settings", "read_fastmri", "recon_grid", "reconstruct_fastmri", "reference_to_grid",
    "retrospective_mask", "write_example_fastmri_file", "write_reconstruction",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
