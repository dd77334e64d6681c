"""The batch worker's fast path against its reference (DESIGN.md): users scored in one matrix run
(``LoadedModel.score_histories``) give the scores of one-user runs (``score_history``, the online path), and the
shared ranking turns them into the same item lists."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from tailor_batch.domain.inference import JobSettings, answer_lines
from tailor_batch.domain.lines import InferenceLine, output_line
from tailor_shared.redis_keys import UserState
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.loader import LoadedModel
from tailor_shared.scoring.ranking import Exploration, Ranked
from tailor_trainer import artifacts
from tailor_trainer.domain import Interactions, ItemsTable, train_solution_version

ARN = "arn:aws:personalize:::recipe/"
SNAPSHOT = {"datasetGroupArn": "arn:aws:personalize:us-east-1:000000000000:dataset-group/g", "offsets": {"0": 42}}


def test_matrix_scores_and_lists_equal_one_user_runs(
    synthetic_data: tuple[Interactions, ItemsTable], tmp_path: Path
) -> None:
    inter, items = synthetic_data
    model = train_solution_version(
        ARN + "aws-user-personalization-v2", inter, items, None, {}, False, "FULL", None, None, 0
    )
    served = LoadedModel(artifacts.export(model, tmp_path / "up", SNAPSHOT, report=False).directory)
    index = ItemIndex(list(served.item_ids))
    users = [*sorted({str(u) for u in inter.user_id})[:40], "cold-user"]
    empty = UserState([], {}, frozenset(), {})
    histories = [answer.history(served, index, u, empty) for u in users]
    assert any(histories) and not histories[-1]
    matrix = served.score_histories(histories)
    assert matrix.shape == (len(users), len(served.item_ids))
    for row, (user, past) in enumerate(zip(users, histories, strict=True)):
        single = served.score_history(past)
        np.testing.assert_allclose(matrix[row], single, rtol=1e-5, atol=1e-6)
        exploration = answer.exploration_for(served, None, "sv", user, now=0.0)

        def ranked(
            base: np.ndarray | None, user: str = user, exploration: Exploration | None = exploration
        ) -> list[Ranked]:
            return answer.recommendations(
                served, index, user_id=user, item_id=None, state=empty, bound=None, num_results=10, context={},
                exploration=exploration, seed="s", base_scores=base,
            )  # fmt: skip

        online, batch = ranked(None), ranked(matrix[row])
        assert [r.index for r in batch] == [r.index for r in online]
        assert [r.reasons for r in batch] == [r.reasons for r in online]
        np.testing.assert_allclose([r.score or 0.0 for r in batch], [r.score or 0.0 for r in online], rtol=1e-4)


def test_batch_lines_equal_the_reference_path(synthetic_data: tuple[Interactions, ItemsTable], tmp_path: Path) -> None:
    """``answer_lines``' fast path (the chunk ranked as a matrix, one float32 softmax per chunk, lines joined from
    pre-encoded IDs) writes the lines the reference ``answer.recommendations`` (one float64 softmax per request)
    gives: same items, reasons, scores — with the model's exploration and with every item explored often."""
    inter, items = synthetic_data
    model = train_solution_version(
        ARN + "aws-user-personalization-v2", inter, items, None, {}, False, "FULL", None, None, 0
    )
    served = LoadedModel(artifacts.export(model, tmp_path / "up", SNAPSHOT, report=False).directory)
    index = ItemIndex(list(served.item_ids))
    users = [*sorted({str(u) for u in inter.user_id})[:30], "cold-user"]
    _assert_lines_equal_reference(served, index, users)
    assert served.exploration is not None
    # Every item young enough and half the slots explored: the per-line draws must be the reference's.
    served.exploration = replace(
        served.exploration, defaults={"explorationWeight": "1.0", "explorationItemAgeCutOff": "1000000"}
    )
    got = _assert_lines_equal_reference(served, index, users)
    assert sum(reasons.count(["Exploration"]) for reasons in got) == 5 * len(users)


def _assert_lines_equal_reference(served: LoadedModel, index: ItemIndex, users: list[str]) -> list[list[list[str]]]:
    """Each line equals the reference answer; the lines' reasons."""
    empty = UserState([], {}, frozenset(), {})
    settings = JobSettings("sv", 10, None)
    lines = [InferenceLine({"userId": u}, user_id=u) for u in users]
    texts = answer_lines(served, index, lines, [empty] * len(users), [None] * len(users), settings, 0.0)
    reasons: list[list[list[str]]] = []
    for user, text in zip(users, texts, strict=True):
        line = json.loads(text)
        exploration = answer.exploration_for(served, None, "sv", user, now=0.0)
        ranked = answer.recommendations(
            served, index, user_id=user, item_id=None, state=empty, bound=None, num_results=10, context={},
            exploration=exploration, seed="s",
        )  # fmt: skip
        out = line["output"]
        assert out["recommendedItems"] == [index.item_ids[r.index] for r in ranked]
        assert out["reasons"] == [list(r.reasons) for r in ranked]
        expected = [np.nan if r.score is None else r.score for r in ranked]
        shown = [np.nan if v is None else v for v in out["scores"]]
        np.testing.assert_allclose(shown, expected, rtol=1e-4, atol=1e-7)
        # The joined text is the one ``output_line`` encodes.
        assert text == output_line(line["input"], "USER_PERSONALIZATION", *out.values())
        reasons.append(out["reasons"])
    return reasons
