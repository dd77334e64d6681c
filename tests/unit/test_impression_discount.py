"""Impressions at serving time (ADR 0022): items shown often without a choice lose exploration weight."""

from __future__ import annotations

import numpy as np

from tailor_shared.scoring.impressions import IMPRESSION_PRIOR, impression_discount
from tailor_shared.scoring.ranking import Exploration, _explore


def test_the_discount_is_the_smoothed_chosen_when_shown_rate() -> None:
    position = {"a": 0, "b": 1, "c": 2}
    got = impression_discount(position, 3, {"a": 95, "b": 10, "zz": 4}, {"b": 10, "zz": 1})
    prior = IMPRESSION_PRIOR
    assert got.tolist() == [prior / (95 + prior), 1.0, 1.0]  # c never shown; b always chosen


def test_exploration_draws_the_item_shown_without_a_choice_less_often() -> None:
    n = 12
    eligible = np.ones(n, dtype=bool)
    allowed = np.ones(n, dtype=bool)
    discount = impression_discount({"i10": 10}, n, {"i10": 500}, {})
    regular = list(range(10))  # the model's top 10: items 10 and 11 are only reachable through exploration
    drawn_plain = drawn_discounted = 0
    for seed in range(300):
        plain = Exploration(1.0, eligible, np.zeros(n), f"s{seed}")
        shown = Exploration(1.0, eligible, np.zeros(n), f"s{seed}", discount)
        drawn_plain += 10 in _explore(regular, plain, allowed.copy(), [], 10)[1]
        drawn_discounted += 10 in _explore(regular, shown, allowed.copy(), [], 10)[1]
    assert drawn_plain > 100
    assert drawn_discounted < drawn_plain / 5
