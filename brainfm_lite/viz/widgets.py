"""Interactive views (ipywidgets): a slice browser for one or several volumes on the same grid.

In the rendered HTML book a widget cannot run; each chapter also shows a static figure, and the browser works
when you run the notebook in Jupyter or Colab.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from brainfm_lite.data.orientation import to_ras
from brainfm_lite.data.volume import Volume
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
