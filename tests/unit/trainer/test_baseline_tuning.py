"""The baselines' settings search (bench/trainer_quality.py): it ends between two scored neighbours of every
chosen value, or says which setting sat at the end of its ladder; and iALS's exact half-step."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tailor_trainer.domain.baselines import ials_rows, ladder_search

LADDERS: dict[str, tuple[Any, ...]] = {"k": (10, 20, 40, 80, 160, 320), "l2": (0.1, 1.0, 10.0, 100.0, 1000.0)}


def _recorded(peak: dict[str, int]) -> tuple[list[dict[str, Any]], Any]:
    """A unimodal score over the ladders' rungs, peaking at rung ``peak``; records every scored point."""
    calls: list[dict[str, Any]] = []

    def score(params: dict[str, Any]) -> float:
        calls.append(params)
        rungs = {n: LADDERS[n].index(v) for n, v in params.items()}
        return -sum((rungs[n] - peak[n]) ** 2 for n in rungs)

    return calls, score


def test_search_climbs_to_an_inside_peak_and_scores_both_neighbours() -> None:
    calls, score = _recorded({"k": 3, "l2": 1})
    chosen, best, at_end = ladder_search(LADDERS, [{"k": 0, "l2": 4}], score)
    assert chosen == {"k": 80, "l2": 1.0}
    assert best == 0
    assert at_end == []
    for neighbour in ({"k": 40, "l2": 1.0}, {"k": 160, "l2": 1.0}, {"k": 80, "l2": 0.1}, {"k": 80, "l2": 10.0}):
        assert neighbour in calls
    assert len(calls) == len({tuple(c.values()) for c in calls}), "a point was scored twice"
    assert len(calls) < len(LADDERS["k"]) * len(LADDERS["l2"]), "no cheaper than the full grid"


def test_a_choice_at_the_end_of_a_ladder_is_reported() -> None:
    _, score = _recorded({"k": 5, "l2": 2})
    chosen, _, at_end = ladder_search(LADDERS, [{"k": 2, "l2": 2}], score)
    assert chosen == {"k": 320, "l2": 10.0}
    assert at_end == ["k"]


def test_the_start_is_kept_when_no_neighbour_beats_it() -> None:
    calls, score = _recorded({"k": 2, "l2": 2})
    chosen, _, at_end = ladder_search(LADDERS, [{"k": 2, "l2": 2}], score)
    assert chosen == {"k": 40, "l2": 10.0}
    assert at_end == []
    assert len(calls) == 5  # the start and its four neighbours


def test_the_climb_starts_from_the_best_of_several_starts() -> None:
    calls, score = _recorded({"k": 5, "l2": 0})
    chosen, _, _ = ladder_search(LADDERS, [{"k": 0, "l2": 4}, {"k": 4, "l2": 1}], score)
    assert chosen == {"k": 320, "l2": 0.1}
    assert {"k": 10, "l2": 100.0} not in calls[2:], "the worse start's neighbours were searched"


def test_ials_rows_solve_each_rows_normal_equations_both_ways() -> None:
    """Rows with fewer observed columns than factors go through the push-through identity, the others through
    a factors x factors solve: both must give the one least-squares solution."""
    gen = np.random.default_rng(3)
    factors, alpha, l2 = 8, 4.0, 0.5
    fixed = torch.from_numpy(gen.normal(size=(40, factors)))
    lists = [np.array([], dtype=np.int64), np.array([3]), np.arange(0, 14, 2), np.arange(25)]
    got = ials_rows(fixed, lists, l2, alpha)
    gram_all = fixed.T @ fixed + l2 * torch.eye(factors, dtype=torch.float64)
    assert torch.count_nonzero(got[0]) == 0
    for r, idx in enumerate(lists[1:], start=1):
        f = fixed[torch.from_numpy(idx)]
        want = torch.linalg.solve(gram_all + alpha * f.T @ f, (1 + alpha) * f.sum(dim=0))
        assert torch.allclose(got[r], want, atol=1e-10), r
