"""Tests for brainfm_lite.physics.tissues: ranges, midpoints, units and the per-subject draw."""

import numpy as np
import pytest

from brainfm_lite.errors import InputError
from brainfm_lite.physics.tissues import BACKGROUND, MAP_NAMES, TISSUES_3T, Tissue, tissues


def test_midpoints_lie_inside_their_ranges_in_map_units():
    for tissue in TISSUES_3T.values():
        for name in MAP_NAMES:
            low, high = tissue.range(name)
            assert low <= tissue.midpoint(name) <= high, (tissue.name, name)


def test_rates_are_inverse_times_in_per_second():
    gm = TISSUES_3T["gm"]
    assert gm.range("r1") == pytest.approx((1 / 1.6, 1 / 1.4))
    assert gm.midpoint("r1") == pytest.approx(1 / 1.5)
    assert TISSUES_3T["wm"].midpoint("r2s") == pytest.approx(1 / 0.045)
    assert TISSUES_3T["wm"].midpoint("mt") == pytest.approx(0.0175)  # 1.75 %, as a fraction


def test_tissues_are_ordered_as_the_textbook_says():
    gm, wm, csf, lesion = (TISSUES_3T[name].midpoints() for name in ("gm", "wm", "csf", "lesion"))
    assert wm["r1"] > gm["r1"] > csf["r1"]          # T1: WM shortest, CSF longest
    assert wm["r2"] > gm["r2"] > csf["r2"]
    assert csf["pd"] > gm["pd"] > wm["pd"]
    assert wm["mt"] > gm["mt"] > csf["mt"] == 0
    # A chronic lesion lost myelin and gained water: between WM and CSF on every axis.
    assert wm["r1"] > lesion["r1"] > csf["r1"]
    assert wm["r2"] > lesion["r2"] > csf["r2"]
    assert lesion["pd"] > wm["pd"] and lesion["mt"] < wm["mt"]


def test_draw_is_seeded_and_stays_in_range():
    wm = TISSUES_3T["wm"]
    assert wm.draw(np.random.default_rng(5)) == wm.draw(np.random.default_rng(5))
    rng = np.random.default_rng(0)
    draws = [wm.draw(rng) for _ in range(200)]
    for name in MAP_NAMES:
        low, high = wm.range(name)
        values = np.array([d[name] for d in draws])
        assert np.all((values >= low) & (values <= high)), name
        assert values.std() > 0.15 * (high - low)  # spread over the range, not stuck at one value


def test_background_rates_are_valid_signal_inputs():
    assert BACKGROUND["pd"] == 0
    assert all(BACKGROUND[name] > 0 for name in ("r1", "r2", "r2s"))


def test_bad_ranges_and_unknown_fields_are_rejected():
    with pytest.raises(InputError, match="t1"):
        Tissue("x", t1=(1.0, 0.5), t2=(0.1, 0.1), t2s=(0.05, 0.05), pd=(0.7, 0.7), mt=(0, 0))
    with pytest.raises(InputError, match="map"):
        TISSUES_3T["gm"].range("t1")
    with pytest.raises(InputError, match="7"):
        tissues(7.0)
    assert tissues(3) is TISSUES_3T
