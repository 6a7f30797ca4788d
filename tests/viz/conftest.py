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
