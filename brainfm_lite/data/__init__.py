"""Data layer: load and check volumes, preprocess them, build the embedded cohort, find real datasets.

The public names below are the stable API; each lives in a small module of its own.
"""

from brainfm_lite.data.bids import write_bids
from brainfm_lite.data.crop import bounding_box, crop_or_pad
from brainfm_lite.data.intensity import apply_mask, bias_field_correct, brain_mask, clip_percentiles, zscore
from brainfm_lite.data.io import load_volume, save_volume
from brainfm_lite.data.orientation import axis_codes, reorient, to_ras
from brainfm_lite.data.preprocess import preprocess
from brainfm_lite.data.registration import apply_registration, register_to_mni
from brainfm_lite.data.resample import resample, resample_like
from brainfm_lite.data.synth import Cohort, Subject, make_cohort, make_subject
from brainfm_lite.data.templates import mni_brain_mask, mni_template
from brainfm_lite.data.volume import Volume

__all__ = [
    "Cohort", "Subject", "Volume", "apply_mask", "apply_registration", "axis_codes", "bias_field_correct",
    "bounding_box", "brain_mask", "clip_percentiles", "crop_or_pad", "load_volume", "make_cohort", "make_subject",
    "mni_brain_mask", "mni_template", "preprocess", "register_to_mni", "reorient", "resample", "resample_like",
    "save_volume", "to_ras", "write_bids", "zscore",
]
