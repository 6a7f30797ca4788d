"""MR physics: signal equations (SPGR, FSE, FLAIR, MPRAGE, MP2RAGE), sequences and their presets, tissue
relaxation values, ASL kinetic models, quantification and QEI, and k-space (centred FFT, masks, coils).

Every name below is importable from ``brainfm_lite.physics``; each loads its module (and torch) only when first
used, so ``import brainfm_lite.physics`` is instant.
"""

from typing import TYPE_CHECKING

from brainfm_lite._lazy import lazy_exports

if TYPE_CHECKING:  # type checkers and editors read these; at run time each name loads on first use
    from brainfm_lite.physics.asl import (
        BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY,
        BLOOD_BRAIN_PARTITION,
        LABELLING_EFFICIENCY,
        SECONDS_PER_MINUTE_PER_100G,
        T1_BLOOD,
        T1_TISSUE,
        asl_signal_pasl,
        asl_signal_pcasl,
        cbf_pasl,
        cbf_pcasl,
        m0_correction,
        qei,
    )
    from brainfm_lite.physics.kspace import (
        ACS_SCALE_FRACTION,
        ACS_SCALE_PERCENTILE,
        MASK_KINDS,
        acs_columns,
        acs_scale,
        adjoint_op,
        background_phase,
        cartesian_mask,
        coil_sensitivities,
        fft2c,
        forward_op,
        ifft2c,
        rss,
        sense_combine,
        simulate_acquisition,
        to_channels,
        to_complex,
        zero_filled,
    )
    from brainfm_lite.physics.sequences import KINDS, PRESETS, RECEIVE_SCALE_RANGE, Sequence, sample_sequence
    from brainfm_lite.physics.signal import flair, fse, mp2rage, mp2rage_readouts, mp2rage_uniform, mprage, spgr
    from brainfm_lite.physics.tissues import BACKGROUND, MAP_NAMES, SUPPORTED_FIELDS_T, TISSUES_3T, Tissue

__all__ = [
    "ACS_SCALE_FRACTION", "ACS_SCALE_PERCENTILE", "BACKGROUND", "BACKGROUND_SUPPRESSION_PULSE_EFFICIENCY",
    "BLOOD_BRAIN_PARTITION", "KINDS", "LABELLING_EFFICIENCY", "MAP_NAMES", "MASK_KINDS", "PRESETS",
    "RECEIVE_SCALE_RANGE", "SECONDS_PER_MINUTE_PER_100G", "SUPPORTED_FIELDS_T", "Sequence", "T1_BLOOD", "T1_TISSUE",
    "TISSUES_3T", "Tissue", "acs_columns", "acs_scale", "adjoint_op", "asl_signal_pasl", "asl_signal_pcasl",
    "background_phase", "cartesian_mask", "cbf_pasl", "cbf_pcasl", "coil_sensitivities", "fft2c", "flair", "forward_op",
    "fse", "ifft2c", "m0_correction", "mp2rage", "mp2rage_readouts", "mp2rage_uniform", "mprage", "qei", "rss",
    "sample_sequence", "sense_combine", "simulate_acquisition", "spgr", "to_channels", "to_complex", "zero_filled",
]
__getattr__, __dir__ = lazy_exports(__name__, __file__)
