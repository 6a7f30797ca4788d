"""The multi-study ASL cohort: study sites and protocols, perfusion patterns and diagnoses, the acquisition
(kinetic model, artefacts, quantification) and the cohort of CBF maps with QEI, one subject at a time (numpy) or
many at once on a torch device (:func:`~brainfm_lite.sim.asl.batched.simulate_asl_batch`)."""

from brainfm_lite.sim.asl.acquisition import T1_TISSUE, Acquisition, ArtifactDraw, acquire, quantify
from brainfm_lite.sim.asl.batched import simulate_asl_batch
from brainfm_lite.sim.asl.cohort import AslCohort, AslSubject, make_asl_cohort, rescan, simulate_subject
from brainfm_lite.sim.asl.perfusion import apply_diagnosis, healthy_perfusion, perfusion_grid
from brainfm_lite.sim.asl.sites import DIAGNOSES, AslSite, make_asl_sites, white_paper_site

__all__ = [
    "Acquisition", "ArtifactDraw", "AslCohort", "AslSite", "AslSubject", "DIAGNOSES", "T1_TISSUE", "acquire",
    "apply_diagnosis", "healthy_perfusion", "make_asl_cohort", "make_asl_sites", "perfusion_grid", "quantify", "rescan",
    "simulate_asl_batch", "simulate_subject", "white_paper_site",
]
