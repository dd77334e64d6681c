"""GetActionRecommendations without I/O: the request's plan and the answer from what was read for it.

The answer (guide L12132-L12205, L6747-L6865): every trained action the automatic rules allow now (not expired,
not inside its REPEAT_FREQUENCY window after the user's latest interaction with it) and the request's filter
passes, ranked by the user's propensity (0.0 for actions without enough interactions data), then VALUE, then
how often it was taken (docs/adr/0021).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from tailor.runtime.v1 import runtime_pb2
from tailor_runtime.domain import requests
from tailor_runtime.domain.plan import FilterRef, Served
from tailor_shared.errors import InvalidInputException
from tailor_shared.filters import BoundFilter, Subject
from tailor_shared.scoring.actions import (
    ACTION_WINDOW,
    DEFAULT_RESULTS,
    MAX_RESULTS,
    NOT_TAKEN,
    PERSONALIZED_ACTIONS,
    ActionModel,
    UserActivity,
    action_value,
    eligible,
    rank,
)
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask
from tailor_shared.validation import validation_error


@dataclass(frozen=True)
class ActionsPlan:
    user_id: str
    num_results: int
    filter: FilterRef | None


def plan(request: runtime_pb2.GetActionRecommendationsRequest, served: Served) -> ActionsPlan:
    if served.recipe_type != PERSONALIZED_ACTIONS:
        raise InvalidInputException(
            f"Campaign {served.arn} does not use the Next-Best-Action recipe; "
            "GetActionRecommendations needs an aws-next-best-action campaign"
        )
    n = request.num_results if request.HasField("num_results") else DEFAULT_RESULTS
    if n < 0 or n > MAX_RESULTS:
        raise validation_error(n, "numResults", f"Member must have value between 0 and {MAX_RESULTS}")
    user_id = requests.identifier(request.user_id, "userId", required=True)  # L5724
    assert user_id is not None
    ref = None
    if request.filter_arn:
        ref = FilterRef(request.filter_arn, tuple(sorted(request.filter_values.items())))
    elif request.filter_values:
        raise InvalidInputException("filterValues were given without a filterArn")
    return ActionsPlan(user_id, n, ref)


def filter_windows(activity: UserActivity) -> dict[str, list[str]]:
    """The user's action ids per event type, newest first, under each spelling a filter may use
    (``NOT_TAKEN`` and ``Not Taken`` are one event type, ADR 0003)."""
    out: dict[str, list[str]] = {}
    for action_id, kind, _ts in sorted(activity.actions, key=lambda a: -a[2]):
        out.setdefault(kind.casefold(), []).append(action_id)
    if NOT_TAKEN.casefold() in out:
        out["not taken"] = out[NOT_TAKEN.casefold()]
    return out


def recommend(
    model: ActionModel,
    metadata: Mapping[str, Mapping[str, str]],
    index: ItemIndex,
    activity: UserActivity,
    bound: BoundFilter | None,
    now: float,
    num_results: int,
) -> list[tuple[str, float]]:
    """(actionId, score) best first. ``index``: the catalogue — the trained actions, then actions that arrived
    after training (exploration: score 0.0, L12148) — with ``metadata``, the Actions rows (Redis over the
    trained rows), indexed for filters; ``now``: epoch seconds (expiry, repeat frequency)."""
    ids = list(index.item_ids)
    extra = len(ids) - len(model.item_ids)

    def pad(trained: npt.NDArray[Any], fill: object) -> npt.NDArray[Any]:
        return np.concatenate([trained, np.full(extra, fill, dtype=trained.dtype)])

    allowed = eligible(ids, metadata, activity, now)
    if bound is not None:
        inputs = FilterInputs(activity.metadata, filter_windows(activity), window=ACTION_WINDOW)
        allowed &= filter_mask(bound, index, inputs, subject=Subject.ACTION_ID)
    values = np.array([action_value(metadata.get(a)) for a in ids], dtype=np.float64)
    propensity = pad(model.propensities(activity), 0.0)
    return rank(ids, propensity, pad(model.scored, False), values, pad(model.popularity, 0.0), allowed, num_results)
