"""Torch datasets over the cohorts, each with an atomic on-disk cache: CBF maps, structural volumes, 2D slices for
reconstruction, and the paired views of SimCLR and sequence-invariant pretraining; and the site splits that keep
each cohort's evaluation test subjects out of its pretraining."""

from brainfm_lite.datasets.base import SubjectDataset
from brainfm_lite.datasets.cbf import CbfDataset, asl_cbf_dataset
from brainfm_lite.datasets.elastic import RandSmoothDeform
from brainfm_lite.datasets.recon_slices import SliceDataset, load_fastmri_kspace, recon_datasets
from brainfm_lite.datasets.seqinv_views import SEQINV_VARIANTS, SeqInvPairs, SeqInvViewConfig, SeqInvViews
from brainfm_lite.datasets.simclr_views import SimCLRViewConfig, SimCLRViews, ViewPairs
from brainfm_lite.datasets.splits import SiteSplit, evaluation_split, pretraining_pool, site_splits
from brainfm_lite.datasets.structural import (
    StructuralDataset,
    structural_cohort,
    structural_dataset,
    structural_dataset_for_encoder,
)

__all__ = [
    "CbfDataset", "RandSmoothDeform", "SEQINV_VARIANTS", "SeqInvPairs", "SeqInvViewConfig", "SeqInvViews",
    "SimCLRViewConfig", "SimCLRViews", "SiteSplit", "SliceDataset", "StructuralDataset", "SubjectDataset",
    "ViewPairs", "asl_cbf_dataset", "evaluation_split", "load_fastmri_kspace", "pretraining_pool", "recon_datasets",
    "site_splits", "structural_cohort", "structural_dataset", "structural_dataset_for_encoder",
]
