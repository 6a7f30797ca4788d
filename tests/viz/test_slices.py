"""Slice views: whatever order a file stores its voxels in, the subject's right is drawn on the right and marked."""

import numpy as np

from brainfm_lite.data.volume import Volume
from brainfm_lite.preprocess.orientation import reorient
from brainfm_lite.viz.asl_plots import plot_cbf_row
from brainfm_lite.viz.slices import display_slice, plot_before_after, plot_montage, plot_orthogonal


def right_half_bright() -> Volume:
    """A 2 mm RAS volume whose voxels on the subject's right (x > 0 mm) are 1, the rest 0."""
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-15.0, -15.0, -15.0]  # 16 voxels centred on 0: x from -15 to +15 mm
    data = np.zeros((16, 16, 16), np.float32)
    data[8:] = 1.0  # x index 8..15: x > 0, the right
    return Volume(data, affine)


def test_the_right_is_drawn_on_the_right_whatever_the_storage_order():
    volume = right_half_bright()
    for stored in (volume, reorient(volume, "LPS"), reorient(volume, "PIR")):
        for plane in ("axial", "coronal"):
            image, _ = display_slice(stored, plane)
            assert image[:, -1].min() == 1 and image[:, 0].max() == 0  # right column bright, left dark


def test_each_plane_is_named_and_its_sides_marked():
    fig = plot_orthogonal(reorient(right_half_bright(), "LPS"))
    sagittal, coronal, axial = fig.axes
    for ax, title, (left, right) in ((sagittal, "sagittal", "PA"), (coronal, "coronal", "LR"), (axial, "axial", "LR")):
        marks = {text.get_text(): text.get_position()[0] for text in ax.texts}
        assert ax.get_title() == title
        assert marks[left] < 0.5 < marks[right]
    assert not plot_orthogonal(right_half_bright(), sides=False).axes[0].texts



def test_montages_and_cbf_rows_mark_the_sides_of_each_slice():
    volume = reorient(right_half_bright(), "LPS")
    for fig, (left, right) in ((plot_montage([volume, volume], ["a", "b"]), "LR"),
                               (plot_cbf_row([volume], ["cbf"], axis="sagittal"), "PA")):
        marks = {text.get_text(): text.get_position()[0] for text in fig.axes[0].texts}  # the first slice
        assert marks[left] < 0.5 < marks[right]
    assert not plot_montage([volume], ["a"], sides=False).axes[0].texts

def test_before_and_after_rows_say_shape_and_spacing():
    volume = right_half_bright()
    fig = plot_before_after(volume, volume.with_data(volume.data[:8]), titles=("in", "out"))
    labels = [t.get_text() for ax in fig.axes for t in ax.texts if "\n" in t.get_text()]
    assert labels == ["in\n(16, 16, 16)\n2 x 2 x 2 mm", "out\n(8, 16, 16)\n2 x 2 x 2 mm"]


def test_side_letters_are_9_pt_and_montages_fit_the_page_at_the_chapters_sizes():
    volume = right_half_bright()
    assert {text.get_fontsize() for text in plot_orthogonal(volume).axes[0].texts} == {9}
    # chapter 2: four contrasts and twelve sequences, four a row; chapter 1: eight subjects, four a row
    for n in (4, 8, 12):
        fig = plot_montage([volume] * n, [str(k) for k in range(n)], ncols=4)
        assert fig.get_size_inches()[0] <= 9
    wide = plot_montage([volume] * 8, [str(k) for k in range(8)])  # one row of eight: narrower panels
    assert wide.get_size_inches()[0] <= 9 and len(wide.axes) == 8
