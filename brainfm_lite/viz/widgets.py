"""Interactive views (ipywidgets): a slice browser for one or several volumes on the same grid.

In the rendered HTML book a widget cannot run; each chapter also shows a static figure, and the browser works
when you run the notebook in Jupyter or Colab.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from brainfm_lite.data.volume import Volume
from brainfm_lite.preprocess.orientation import to_ras
from brainfm_lite.viz.slices import AXES, display_slice, intensity_limits


def slice_browser(volumes: dict[str, Volume] | Volume, *, cmap: str = "gray"):
    """A slider over slices, a choice of plane and of volume; returns the ipywidgets container to display.

    Example:
        >>> slice_browser({"T1w": subject.t1w, "labels": subject.volume("labels")})  # doctest: +SKIP
    """
    import ipywidgets as widgets

    if isinstance(volumes, Volume):
        volumes = {"volume": volumes}
    ras = {name: to_ras(v) for name, v in volumes.items()}
    limits = {name: intensity_limits(v.data) for name, v in ras.items()}
    first = next(iter(ras.values()))

    choose = widgets.Dropdown(options=list(ras), description="volume")
    plane = widgets.ToggleButtons(options=list(AXES), value="axial", description="plane")
    index = widgets.IntSlider(min=0, max=first.shape[2] - 1, value=first.shape[2] // 2, description="slice",
                              continuous_update=False)
    out = widgets.Output()

    def draw(*_):
        volume = ras[choose.value]
        index.max = volume.shape[AXES[plane.value]] - 1
        image, aspect = display_slice(volume, plane.value, index.value)
        with out:
            out.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4, 4))
            lo, hi = limits[choose.value]
            ax.imshow(image, cmap=cmap, origin="lower", aspect=aspect, vmin=lo, vmax=hi)
            ax.set_title(f"{choose.value}: {plane.value} slice {index.value}", fontsize=9)
            ax.axis("off")
            plt.show()

    for control in (choose, plane, index):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([widgets.HBox([choose, plane]), index, out])


def sequence_explorer(maps: dict, affine, *, index: int | None = None, cmap: str = "gray"):
    """Sliders for a sequence (kind, TR, TE, TI, flip) that re-simulate one axial slice of a subject's qMRI maps.

    Args:
        maps: quantitative maps [X, Y, Z] (``pd``, ``r1``, ``r2``, ``r2s``, ``mt``), e.g. from ``qmri_maps``.
        affine: their 4x4 voxel-to-world matrix.
        index: axial slice in RAS order (default the middle).

    Only the parameters the chosen kind takes are used (FSE ignores TI and flip). A combination the physics
    forbids (TI longer than TR, an MPRAGE block that does not fit) shows the error instead of an image.
    """
    import ipywidgets as widgets

    from brainfm_lite.errors import InputError
    from brainfm_lite.physics.sequences import Sequence
    from brainfm_lite.viz.plots import SWEEPABLE

    planes = {}
    for name, values in maps.items():
        planes[name], aspect = display_slice(Volume(values, affine), "axial", index)

    kind = widgets.Dropdown(options=list(SWEEPABLE), value="flair", description="sequence")
    tr = widgets.FloatLogSlider(value=9.0, base=10, min=-2.3, max=1, step=0.02, description="TR (s)",
                                continuous_update=False)
    te = widgets.FloatSlider(value=120, min=1, max=300, step=1, description="TE (ms)", continuous_update=False)
    ti = widgets.FloatSlider(value=2.5, min=0.01, max=5, step=0.01, description="TI (s)", continuous_update=False)
    flip = widgets.FloatSlider(value=20, min=1, max=90, step=1, description="flip (deg)", continuous_update=False)
    out = widgets.Output()

    def draw(*_):
        chosen = {"tr": tr.value, "te": te.value / 1e3, "ti": ti.value, "flip_deg": flip.value}
        sequence = Sequence(kind.value, {name: chosen[name] for name in SWEEPABLE[kind.value]})
        with out:
            out.clear_output(wait=True)
            try:
                image = sequence.simulate(**planes)
            except InputError as err:
                print(f"not a valid sequence: {err}")
                return
            fig, ax = plt.subplots(figsize=(4, 4))
            lo, hi = intensity_limits(image)
            ax.imshow(image, cmap=cmap, origin="lower", aspect=aspect, vmin=lo, vmax=hi)
            ax.set_title(", ".join(f"{k}={v:.3g}" for k, v in sequence.params.items()), fontsize=8)
            ax.axis("off")
            plt.show()

    for control in (kind, tr, te, ti, flip):
        control.observe(draw, names="value")
    draw()
    return widgets.VBox([kind, tr, te, ti, flip, out])
