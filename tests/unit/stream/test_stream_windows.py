"""Trend windows: bucketing of event timestamps, the windows growth compares, and growth itself."""

from __future__ import annotations

import pytest

from tailor_shared import redis_keys as rk
from tailor_shared.errors import InvalidInputException
from tailor_stream.config import DEFAULT_TREND_WINDOWS, parse_trend_windows
from tailor_stream.domain import TrendWindow, trend_windows_of


def test_tumbling_window_holds_its_start_but_not_its_end() -> None:
    assert rk.window_starts(3600, 3600, 3600) == [3600]
    assert rk.window_starts(7199.9, 3600, 3600) == [3600]
    assert rk.window_starts(7200, 3600, 3600) == [7200]


def test_hopping_windows_overlap() -> None:
    # 1-hour windows every 15 minutes: an event is in four of them.
    starts = rk.window_starts(10_000, 3600, 900)
    assert starts == [7_200, 8_100, 9_000, 9_900]
    assert all(s <= 10_000 < s + 3600 for s in starts)


def test_window_starts_rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        rk.window_starts(1, 60, 120)
    with pytest.raises(ValueError):
        rk.window_starts(1, 0, 0)


def test_last_complete_windows_are_consecutive_and_end_before_now() -> None:
    now = 10 * 3600 + 1234
    current, previous = rk.last_complete_windows(now, 3600, 3600)
    assert (current, previous) == (9 * 3600, 8 * 3600)
    assert current + 3600 <= now
    # with a 30-minute step the compared pair advances every 30 minutes
    assert rk.last_complete_windows(10 * 3600 + 1900, 3600, 1800) == [9 * 3600 + 1800, 8 * 3600 + 1800]


def test_growth_is_relative_increase_with_smoothing() -> None:
    assert rk.growth(20, 10) == pytest.approx(10 / 11)
    assert rk.growth(1, 0) == 1.0
    assert rk.growth(5, 10) < 0
    # more smoothing favours volume: a doubling from hundreds beats a first sighting
    assert rk.growth(2, 0) > rk.growth(200, 100)
    assert rk.growth(200, 100, smoothing=10) > rk.growth(2, 0, smoothing=10)


def test_rank_trending_orders_by_growth_then_volume_then_id() -> None:
    current = {"a": 10.0, "b": 10.0, "c": 4.0, "d": 1.0}
    previous = {"a": 4.0, "b": 4.0, "c": 1.0, "d": 0.0}
    ranked = rk.rank_trending(current, previous, 3)
    # c: (4-1)/2 = 1.5; a, b: (10-4)/5 = 1.2, tied: by id; d: 1/1 = 1.0
    assert [item for item, _ in ranked] == ["c", "a", "b"]
    assert dict(ranked)["c"] == pytest.approx(1.5)


def test_trend_windows_of_counts_a_shared_window_once() -> None:
    windows = (TrendWindow(3600, 3600), TrendWindow(3600, 1800), TrendWindow(1800, 1800))
    found = trend_windows_of(5400, windows)
    assert found == ((1800, 5400), (3600, 3600), (3600, 5400))


def test_trend_window_settings() -> None:
    assert [w.size_s for w in parse_trend_windows(DEFAULT_TREND_WINDOWS)] == list(rk.TREND_FREQUENCIES_S)
    assert parse_trend_windows("3600/900, 1800") == (TrendWindow(3600, 900), TrendWindow(1800, 1800))
    for bad in ("60/120", "100/30", "x", "0"):
        with pytest.raises(InvalidInputException):
            parse_trend_windows(bad)
