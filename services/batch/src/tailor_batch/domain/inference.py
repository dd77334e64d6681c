"""Answering a chunk of batch inference lines with the online runtime's code (``tailor_shared.scoring.answer``).

The only difference from the online path is the matrix: a chunk's users are scored in one model run
(``score_histories``) and each row is then ranked exactly as GetRecommendations / GetPersonalizedRanking rank it.
Pure: the user states come from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tailor_batch.domain.lines import InferenceLine, error_line, output_line
from tailor_shared.errors import InvalidInputException, PersonalizeError
from tailor_shared.filters import BoundFilter
from tailor_shared.redis_keys import UserState
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask
from tailor_shared.scoring.model import ServingModel
from tailor_shared.scoring.ranking import Exploration, recommend


class BatchModel(ServingModel, Protocol):
    def score_histories(self, histories: Sequence[Sequence[int]]) -> npt.NDArray[np.float32]: ...


@dataclass(frozen=True)
class JobSettings:
    """What the job's record fixes for every line."""

    scope: str  # the solution version ARN: exploration is drawn as on its campaigns
    num_results: int
    exploration_config: Mapping[str, object] | None  # batchInferenceJobConfig.itemExplorationConfig


Binder = Callable[[Mapping[str, str]], BoundFilter | None]  # filterValues -> the job's filter, bound


def answer_lines(
    model: BatchModel,
    index: ItemIndex,
    lines: Sequence[InferenceLine],
    states: Sequence[UserState],
    bound: Sequence[BoundFilter | None],
    settings: JobSettings,
    now: float,
) -> list[str]:
    """One output line per input line (a line whose request fails gets its error, the others go on)."""
    kind = model.recipe_type
    base: npt.NDArray[np.float32] | None = None
    histories: list[list[int]] = []
    if kind in ("USER_PERSONALIZATION", "PERSONALIZED_RANKING"):
        pairs = zip(lines, states, strict=True)
        histories = [answer.history(model, index, line.user_id, state) for line, state in pairs]
        base = model.score_histories(histories)
    v2 = model.recipe_arn.endswith(answer.V2_RECIPES)
    # The job's exploration (eligible items, weights) is the same for every line; only the seed is the user's.
    template = (
        answer.exploration_for(model, settings.exploration_config, settings.scope, None, now)
        if kind == "USER_PERSONALIZATION"
        else None
    )
    chunk_shown = _softmax_rows(base) if kind == "USER_PERSONALIZATION" and base is not None else None
    out: list[str] = []
    for row, (line, state, b) in enumerate(zip(lines, states, bound, strict=True)):
        try:
            if b is not None and b.filter.requires_user_id and line.user_id is None:
                raise InvalidInputException("The filter uses the user's data: the line needs a userId")
            scores = None if base is None else base[row]
            if chunk_shown is not None and scores is not None and not line.context:
                exploration = (
                    None
                    if template is None
                    else replace(template, seed=answer.exploration_seed(settings.scope, line.user_id, now))
                )
                fast = _fast_recommendations(
                    model, index, line.raw, scores, chunk_shown[row], histories[row], state, b, settings.num_results,
                    exploration, v2,
                )  # fmt: skip
                if fast is not None:
                    out.append(fast)
                    continue
            if kind == "PERSONALIZED_RANKING":
                ranked_items = answer.personalized_ranking(
                    model,
                    index,
                    user_id=line.user_id,
                    state=state,
                    bound=b,
                    input_list=line.item_list,
                    context=line.context,
                    base_scores=scores,
                )
                items, shown = [i for i, _ in ranked_items], [s for _, s in ranked_items]
                out.append(output_line(line.raw, kind, items, shown, None))
                continue
            exploration = (
                None
                if template is None
                else replace(template, seed=answer.exploration_seed(settings.scope, line.user_id, now))
            )
            ranked = answer.recommendations(
                model,
                index,
                user_id=line.user_id,
                item_id=line.item_id,
                state=state,
                bound=b,
                num_results=settings.num_results,
                context=line.context,
                exploration=exploration,
                seed=f"{settings.scope}|{row}",  # places promotions only; batch jobs have none
                base_scores=scores,
            )
            out.append(
                output_line(
                    line.raw,
                    kind,
                    [index.item_ids[r.index] for r in ranked],
                    [r.score for r in ranked],
                    [r.reasons for r in ranked] if v2 else None,
                )
            )
        except PersonalizeError as err:
            out.append(error_line(line.raw, err.message))
    return out


def _softmax_rows(scores: npt.NDArray[np.float32]) -> npt.NDArray[np.float32] | None:
    """Each row's softmax over the catalogue for a whole chunk in one float32 pass (the online path takes one
    float64 softmax per request; the two agree to ~1e-6, far inside the scores' 7 printed decimals). None when
    a row has a non-finite score: those chunks take the reference path."""
    if not np.isfinite(scores).all():
        return None
    shown: npt.NDArray[np.float32] = scores - scores.max(axis=1, keepdims=True)
    np.exp(shown, out=shown)
    total = shown.sum(axis=1, keepdims=True, dtype=np.float64).astype(np.float32)
    np.divide(shown, total, out=shown)
    return shown


def _fast_recommendations(
    model: BatchModel,
    index: ItemIndex,
    raw: Mapping[str, Any],
    scores: npt.NDArray[np.float32],
    shown: npt.NDArray[np.float32],
    past: list[int],
    state: UserState,
    bound: BoundFilter | None,
    num_results: int,
    exploration: Exploration | None,
    v2: bool,
) -> str | None:
    """A USER_PERSONALIZATION line without context: ``answer.recommendations``' list with the chunk's softmax
    instead of one per line (``ranking.recommend`` ranks the same scores, unnormalised). None when the list needs
    a popular backfill (UP-v2 with too few allowed items): the caller then takes the reference path."""
    mask = filter_mask(bound, index, FilterInputs(state.metadata or None, state.windows, None)) if bound else None
    if mask is None:
        mask = np.ones(len(index), dtype=bool)
    if model.exclude_seen and past:
        mask[past] = False
    ranked = recommend(scores, mask, num_results, normalise=False, show_reasons=v2, exploration=exploration, seed="")
    if v2 and len(ranked) < num_results:
        return None
    items = [r.index for r in ranked]
    values: list[float | None] = list(shown[items].astype(np.float64).tolist())
    reasons = [r.reasons for r in ranked] if v2 else None
    return output_line(raw, "USER_PERSONALIZATION", [index.item_ids[i] for i in items], values, reasons)
