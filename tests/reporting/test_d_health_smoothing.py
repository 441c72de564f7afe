"""The smoothing of long logged series (the discriminator-health figure, loss curves): a rolling median
in a min/max band, so one spike is not drawn as a plateau the width of the window."""

from __future__ import annotations

import math

import numpy as np

from bench.plots import plot_series, pyplot, rolling_median_band


def test_a_single_spike_is_no_plateau() -> None:
    vals = np.ones(1000)
    vals[500] = 100.0
    median, low, high = rolling_median_band(vals, 21)
    assert np.all(median == 1.0)  # a boxcar mean would read 1 + 99/21 = 5.7 over 21 steps
    assert np.all(low == 1.0)
    assert high[500] == 100.0 and np.all(high[490:511] == 100.0) and high[489] == 1.0 and high[511] == 1.0


def test_a_step_change_keeps_its_edge_and_a_nan_window_stays_nan() -> None:
    vals = np.r_[np.zeros(500), np.full(500, 10.0)]
    median, _, _ = rolling_median_band(vals, 21)
    assert median[489] == 0.0 and median[510] == 10.0
    with_nan = np.r_[np.ones(100), np.full(50, math.nan), np.ones(100)]
    ax = pyplot().subplots()[1]
    plot_series(ax, list(enumerate(with_nan.tolist())))  # no warning turns into an error
    (line,) = ax.get_lines()
    assert math.isnan(line.get_ydata()[125]) and line.get_ydata()[10] == 1.0
