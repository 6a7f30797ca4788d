"""The embedded synthetic cohort: anatomy from MNI152, sites, subjects, quantitative MRI maps and the contrasts
simulated from them (one at a time in numpy, or in batches on a torch device), BIDS writing; one table of random
streams. ASL studies live in :mod:`brainfm_lite.sim.asl`."""

from brainfm_lite.sim.anatomy import Anatomy, load_anatomy
from brainfm_lite.sim.batched_contrasts import simulate_contrasts
from brainfm_lite.sim.bids import write_bids
from brainfm_lite.sim.cohort import Cohort, Subject, make_cohort, make_subject
from brainfm_lite.sim.qmri import (
    Compartments,
    contrast_ratios,
    core_labels,
    qmri_compartments,
    qmri_maps,
    simulate_contrast,
    subject_contrasts,
)
from brainfm_lite.sim.sites import Site, make_sites
from brainfm_lite.sim.streams import Stream, stream_rng

__all__ = [
    "Anatomy", "Cohort", "Compartments", "Site", "Stream", "Subject", "contrast_ratios", "core_labels", "load_anatomy",
    "make_cohort", "make_sites", "make_subject", "qmri_compartments", "qmri_maps", "simulate_contrast",
    "simulate_contrasts", "stream_rng", "subject_contrasts", "write_bids",
]
