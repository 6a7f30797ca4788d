"""Preprocessing of brain volumes: orientation, resampling, crop/pad, intensity (N4, masks, z-score), registration
to MNI, the MNI templates and regions, and the `preprocess` pipeline that chains them."""

from brainfm_lite.preprocess.crop import bounding_box, crop_or_pad
from brainfm_lite.preprocess.intensity import apply_mask, bias_field_correct, brain_mask, clip_percentiles, zscore
from brainfm_lite.preprocess.orientation import axis_codes, reorient, to_ras
from brainfm_lite.preprocess.pipeline import preprocess
from brainfm_lite.preprocess.regions import region_masks, region_names, regional_means
from brainfm_lite.preprocess.registration import apply_registration, register_to_mni
from brainfm_lite.preprocess.resample import resample, resample_like
from brainfm_lite.preprocess.templates import mni_brain_mask, mni_template, mni_tissue

__all__ = [
    "apply_mask", "apply_registration", "axis_codes", "bias_field_correct", "bounding_box", "brain_mask",
    "clip_percentiles", "crop_or_pad", "mni_brain_mask", "mni_template", "mni_tissue", "preprocess",
    "region_masks", "region_names", "regional_means", "register_to_mni", "reorient", "resample", "resample_like",
    "to_ras", "zscore",
]
