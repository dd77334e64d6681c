"""Candidate retrieval (ADR 0019) against the full graph: the decomposed scores equal ``model.onnx``'s, and the
retrieval path's answers equal the exact path's when the index is searched exhaustively."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tailor_shared.filters import bind_filter_values, parse_filter_expression
from tailor_shared.redis_keys import HistoryEntry, UserState
from tailor_shared.scoring import answer, retrieval
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import LoadedModel
from tailor_shared.scoring.masks import Allowed
from tailor_shared.scoring.ranking import Need
from tailor_trainer import artifacts
from tailor_trainer.domain import train_solution_version
from tests.unit.trainer.conftest import synthetic

RECIPE = "arn:aws:personalize:::recipe/aws-user-personalization-v2"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    inter, items = synthetic(n_users=150, n_items=200)
    model = train_solution_version(RECIPE, inter, items, None, {}, False, "FULL", None, None, 0)
    directory = tmp_path_factory.mktemp("retrieval") / "model"
    artifacts.export(model, directory, {}, report=False)
    return directory


def _histories(n_items: int) -> list[list[int]]:
    rng = np.random.default_rng(3)
    return [[], [5], rng.choice(n_items, 7, replace=False).tolist(), rng.choice(n_items, 80, replace=True).tolist()]


def test_the_retrieval_files_score_like_the_full_graph(model_dir: Path) -> None:
    full = LoadedModel(model_dir)
    split = LoadedModel(model_dir, retrieval_min_items=0)
    assert full.retrieval is None and split.retrieval is not None
    for history in _histories(len(full.item_ids)):
        np.testing.assert_allclose(split.score_history(history), full.score_history(history), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    ("exact_max", "fast_scan", "kept_max"),
    [(retrieval.EXACT_MAX_ALLOWED, False, None), (0, False, None), (0, True, None), (0, True, 0)],
)
def test_answers_by_retrieval_equal_the_exact_answers(
    model_dir: Path, exact_max: int, fast_scan: bool, kept_max: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # exact_max 0 forces the index path with a tiny first k, so the growth loop runs; the index is searched
    # exhaustively (a small catalogue has fewer cells than NPROBE), so candidates hold the true best items.
    # Fast scan (4-bit codes, padded to an even width) ranks approximately: its first k (512)
    # covers this catalogue, so its candidates are every item and the answers are exact too. kept_max 0: every
    # catalogue-level mask gets a sub-index (ADR 0019 §11, §13): the clustered "b" keeps the main index's cells,
    # the spread "a" (every fifth item) gets its own.
    monkeypatch.setattr(retrieval, "EXACT_MAX_ALLOWED", exact_max)
    monkeypatch.setattr(retrieval, "FIRST_K", 4)
    monkeypatch.setattr(retrieval, "FASTSCAN_MIN_ITEMS", 0 if fast_scan else 10**9)
    if kept_max is not None:
        monkeypatch.setattr(retrieval, "KEPT_EXACT_MAX", kept_max)
    full = LoadedModel(model_dir)
    split = LoadedModel(model_dir, retrieval_min_items=0)
    assert split.retrieval is not None
    assert split.retrieval.first_k == (retrieval.FASTSCAN_K if fast_scan else 4)
    ids = list(full.item_ids)
    index = ItemIndex(ids, metadata={i: {"CATEGORY": "a" if n % 5 == 0 else "b"} for n, i in enumerate(ids)})
    selective = bind_filter_values(parse_filter_expression('INCLUDE ItemID WHERE Items.CATEGORY IN ("a")'), {})
    promo = answer.PromotionRequest("p", 20, selective)
    # Item metadata less the user's clicks: its catalogue-level part keyed in retrieval's mask cache (ADR 0019 §11).
    mixed = bind_filter_values(
        parse_filter_expression(
            'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click") | INCLUDE ItemID WHERE Items.CATEGORY IN ("b")'
        ),
        {},
    )
    for history in _histories(len(ids)):
        live = [HistoryEntry(ids[i], "click", None, 2e9 + k, f"t{k}") for k, i in enumerate(history)]
        state = UserState(live[::-1], {"click": [ids[i] for i in history[::-1]]}, frozenset(), {})
        for bound, promotion in ((None, None), (selective, None), (None, promo), (mixed, promo)):
            kwargs: dict[str, Any] = {
                "user_id": "stranger",
                "item_id": None,
                "state": state,
                "bound": bound,
                "num_results": 25,
                "context": {},
                "exploration": answer.exploration_for(full, None, "v", "stranger", now=0.0),
                "seed": "RID-1",
                "promotion": promotion,
            }
            want = answer.recommendations(full, index, **kwargs)
            got = answer.recommendations(split, index, retrieval=split.retrieval, **kwargs)
            assert [r.index for r in got] == [r.index for r in want]
            assert [r.reasons for r in got] == [r.reasons for r in want]
            for g, w in zip(got, want, strict=True):
                assert (g.score is None) == (w.score is None)
                if g.score is not None and w.score is not None:
                    assert g.score == pytest.approx(w.score, rel=1e-3, abs=1e-7)
    if kept_max is not None:  # both kinds of sub-index answered: the main index's cells and cells of its own
        subs = [e.index for e in split.retrieval.masks.entries() if e.index is not None]
        assert sorted(s.nlist < retrieval.CELLS_PER_SQRT * math.sqrt(s.ntotal) for s in subs) == [False, True]


def test_a_position_outside_the_candidates_scores_as_the_exact_path(model_dir: Path) -> None:
    split = LoadedModel(model_dir, retrieval_min_items=0)
    assert split.retrieval is not None
    history = _histories(len(split.item_ids))[3]
    exact = split.retrieval.exact(history)
    cand = split.retrieval.candidates(history, [Need(Allowed(len(split.item_ids), []), 3)])
    assert np.allclose(cand.values, exact[cand.index], rtol=1e-5, atol=1e-6)
    every = np.arange(len(split.item_ids), dtype=np.int64)
    np.testing.assert_allclose(cand.score(every), exact, rtol=1e-5, atol=1e-5)  # after the request's sums are cleared
    assert np.array_equal(split.retrieval.exact(history), exact)  # nothing of the request is left behind


def test_the_query_of_a_history_finds_its_best_items_in_an_exhaustive_search(model_dir: Path) -> None:
    # ``query`` is what a benchmark searches the index with (bench/runtime_retrieval.py --cold-searches). An empty
    # history has no linear part, so its exact scores are the dense inner products the index ranks by.
    split = LoadedModel(model_dir, retrieval_min_items=0)
    r = split.retrieval
    assert r is not None
    r.nprobe = r.n_items  # every cell: the 200-item index holds float vectors, so the search is exact
    found = r._index.search(r.query([])[None, :], 10)[1][0]
    assert sorted(found.tolist()) == sorted(np.argsort(-r.exact([]))[:10].tolist())


def test_the_mask_cache_gets_the_loaders_size(model_dir: Path) -> None:
    split = LoadedModel(model_dir, retrieval_min_items=0, mask_cache_bytes=4321)
    assert split.retrieval is not None and split.retrieval.masks.max_bytes == 4321


def test_the_partition_estimate_is_exact_when_the_sample_is_the_whole_catalogue(model_dir: Path) -> None:
    # 200 items < PARTITION_SAMPLE: every item outside the candidates is a sample item, so the estimate is the exact
    # log-sum-exp, linear-part values of the non-candidates included (history 3 touches many items linearly).
    split = LoadedModel(model_dir, retrieval_min_items=0)
    r = split.retrieval
    assert r is not None and r.n_items < retrieval.PARTITION_SAMPLE
    for history in _histories(r.n_items):
        scores = r.exact(history).astype(np.float64)
        expected = float(scores.max() + np.log(np.exp(scores - scores.max()).sum()))
        seq = r._sequence(history)
        query, entries = r._query(seq), r._linear_entries(seq)
        index = np.sort(np.argsort(-scores)[:10])  # the candidates: the ten best, scored exactly
        with r._summed(entries) as linear:
            got = r._log_partition(index, scores[index].astype(np.float32), query, entries[0], linear)
        assert got == pytest.approx(expected, rel=1e-5, abs=1e-5)
