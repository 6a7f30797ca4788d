"""Torch datasets over the cohorts, each with an atomic on-disk cache: CBF maps, structural volumes, 2D slices for
reconstruction, and the paired views of SimCLR and sequence-invariant pretraining."""

from brainfm_lite.datasets.base import SubjectDataset
from brainfm_lite.datasets.cbf import CbfDataset, asl_cbf_dataset
from brainfm_lite.datasets.elastic import RandSmoothDeform
from brainfm_lite.datasets.recon_slices import SliceDataset, load_fastmri_kspace, recon_datasets
from brainfm_lite.datasets.seqinv_views import SEQINV_VARIANTS, SeqInvPairs, SeqInvViewConfig, SeqInvViews
from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs
from brainfm_lite.datasets.structural import StructuralDataset, structural_cohort, structural_dataset

__all__ = [
    "CbfDataset", "RandSmoothDeform", "SEQINV_VARIANTS", "SeqInvPairs", "SeqInvViewConfig", "SeqInvViews",
    "SimCLRViewConfig", "SimCLRViews", "SliceDataset", "StructuralDataset", "SubjectDataset", "ViewPairs",
    "asl_cbf_dataset", "load_fastmri_kspace", "recon_datasets", "structural_cohort", "structural_dataset",
]
