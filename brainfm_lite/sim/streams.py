"""One table of random streams: every random draw of the cohorts and evaluations names its stream here.

A draw for item ``index`` (a site, a subject, a fold) of one kind under the profile seed comes from its own
generator, ``np.random.default_rng(SeedSequence([seed, stream, index]))``. So subject k never depends on how many
subjects were drawn before it, and two kinds of draw never share a generator (the qMRI maps of subject k once drew
from the same stream as its ASL rescan).

    >>> rng = stream_rng(0, Stream.STRUCTURAL_SUBJECT, 3)    # subject 3 of the seed-0 structural cohort
    >>> float(rng.uniform()) == float(stream_rng(0, Stream.STRUCTURAL_SUBJECT, 3).uniform())
    True
"""

from __future__ import annotations

import enum

import numpy as np


@enum.unique
class Stream(enum.IntEnum):
    """Stream ids: the second number of every seed sequence. Add a kind here; never reuse or renumber one."""

    # the structural cohort (sim.cohort, sim.sites, sim.qmri)
    STRUCTURAL_SITE = 101       # site j: resolution, bias field, scale, noise
    STRUCTURAL_SUBJECT = 102    # subject k: shape, age, lesions, site choice, scan noise
    RECON_ACQUISITION = 103     # subject k's 2D slices for reconstruction: acquisition noise and phase
    QMRI_MAPS = 104             # subject k's quantitative maps (PD, R1, R2, R2*, MT)
    # the ASL cohort (sim.asl)
    ASL_SITE = 201              # study j: protocol, scanner, population
    ASL_SUBJECT = 202           # subject k: site, diagnosis, perfusion, artefacts
    ASL_RESCAN = 203            # a second scan of subject k
    # evaluations (eval)
    SITE_FOLDS = 301            # leave-sites-out folds, the evaluation split, and their in-site test subjects
    LABEL_SUBSET = 302          # which training subjects keep their labels at a label fraction
    DENSE_SPLIT = 303           # retired: the dense tasks' own split (they now share the evaluation split)
    # example files in the real formats, for "your own data" (features.demo, fastmri.demo)
    EXAMPLE_T1_POSITION = 401   # subject k of the example T1 dataset: slice angle and head position
    EXAMPLE_FASTMRI = 402       # the example fastMRI file: qMRI variation, phase, coils and k-space noise


def seed_sequence(seed: int, stream: Stream, *index: int) -> np.random.SeedSequence:
    """The seed sequence ``[seed, stream, *index]`` of one item of one kind."""
    return np.random.SeedSequence([int(seed), int(Stream(stream)), *(int(i) for i in index)])


def stream_rng(seed: int, stream: Stream, *index: int) -> np.random.Generator:
    """An independent numpy generator for one item (site, subject, fold) of one kind of draw."""
    return np.random.default_rng(seed_sequence(seed, stream, *index))
