"""Answering a chunk of batch inference lines with the online runtime's code (``tailor_shared.scoring.answer``).

The only difference from the online path is the matrix: a chunk's users are scored in one model run
(``score_histories``) and each row is then ranked exactly as GetRecommendations / GetPersonalizedRanking rank it.
Pure: the user states come from the caller.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tailor_batch.domain.lines import InferenceLine, error_line, output_line
from tailor_shared.errors import InvalidInputException, PersonalizeError
from tailor_shared.filters import BoundFilter
from tailor_shared.redis_keys import UserState
from tailor_shared.scoring import answer
from tailor_shared.scoring.filtering import ItemIndex
from tailor_shared.scoring.model import ServingModel


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
    out: list[str] = []
    for row, (line, state, b) in enumerate(zip(lines, states, bound, strict=True)):
        try:
            if b is not None and b.filter.requires_user_id and line.user_id is None:
                raise InvalidInputException("The filter uses the user's data: the line needs a userId")
            scores = None if base is None else base[row]
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
