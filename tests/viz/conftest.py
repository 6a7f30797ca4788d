"""Plotting tests: the non-interactive Agg backend, and every figure closed after each test."""

import matplotlib

matplotlib.use("Agg")  # before anything imports pyplot: no window, no display needed

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    """Close every figure a test opened, so that figures do not pile up across tests."""
    yield
    plt.close("all")


def _colour_bars(fig) -> dict[str, tuple[float, float, str]]:
    """Label -> (vmin, vmax, colour map) of every colour bar of a figure: the scales a reader reads panels off."""
    bars = [image.colorbar for ax in fig.axes for image in ax.get_images() if image.colorbar is not None]
    return {(bar.ax.get_ylabel() or bar.ax.get_xlabel()): (*bar.mappable.get_clim(), bar.mappable.get_cmap().name)
            for bar in bars}


def _scale(image) -> tuple[float, float, str]:
    """(vmin, vmax, colour map) of one drawn image, to match against `_colour_bars`."""
    return (*image.get_clim(), image.get_cmap().name)


def _side_marks(ax) -> dict[str, float]:
    """Letter -> x position (axes fraction) of the side marks `mark_sides` drew on a slice."""
    return {text.get_text(): text.get_position()[0] for text in ax.texts if len(text.get_text()) == 1}


def _legend_sizes(fig) -> list[float]:
    """Font size (pt) of the entries of every legend of a figure, on its axes or on the figure itself."""
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)
    assert legends, "the figure has no legend"
    return [text.get_fontsize() for legend in legends for text in legend.get_texts()]


@pytest.fixture
def legend_sizes():
    return _legend_sizes


@pytest.fixture
def colour_bars():
    return _colour_bars


@pytest.fixture
def scale():
    return _scale


@pytest.fixture
def side_marks():
    return _side_marks
