"""Answering a chunk of batch inference lines with the online runtime's code (``tailor_shared.scoring.answer``).

The only difference from the online path is the matrix: a chunk's users are scored in one model run
(``score_histories``) and each row is then ranked exactly as GetRecommendations / GetPersonalizedRanking rank it.
Pure: the user states come from the caller.
"""

from __future__ import annotations

import hashlib
import json
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
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask
from tailor_shared.scoring.model import ServingModel
from tailor_shared.scoring.ranking import PRESELECT_STRIDE, REASON_EXPLORATION, Exploration, exploration_slots


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
    encoded_ids: Sequence[str] | None = None,
) -> list[str]:
    """One output line per input line (a line whose request fails gets its error, the others go on).
    ``encoded_ids``: ``encode_ids(index.item_ids)``, computed once per job by the caller."""
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
    fast: list[str | None] = [None] * len(lines)
    if chunk_shown is not None and base is not None:
        ids = encoded_ids if encoded_ids is not None else encode_ids(index.item_ids)
        fast = _fast_chunk(
            model, index, lines, states, bound, base, chunk_shown, histories, settings, template, now, ids
        )
    out: list[str] = []
    for row, (line, state, b) in enumerate(zip(lines, states, bound, strict=True)):
        try:
            if b is not None and b.filter.requires_user_id and line.user_id is None:
                raise InvalidInputException("The filter uses the user's data: the line needs a userId")
            scores = None if base is None else base[row]
            ready = fast[row]
            if ready is not None:
                out.append(ready)
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


def encode_ids(item_ids: Sequence[str]) -> list[str]:
    """Each item ID as a JSON string, once per job: output lines are joined from these."""
    return [json.dumps(item) for item in item_ids]


def _top_rows(masked: npt.NDArray[np.float32], k: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Each row's ``k`` best positions and their values, best first, ties by position (``ranking.top_indices``
    for a matrix). As there, a strided sample bounds each row's pre-selection: its k-th best value is reached by
    at least k items of the row, so every item of the row's top k is at or above it."""
    n, catalogue = masked.shape
    sample = masked[:, ::PRESELECT_STRIDE]
    if catalogue > 2 * PRESELECT_STRIDE * k and sample.shape[1] >= k:
        bound = np.partition(sample, sample.shape[1] - k, axis=1)[:, sample.shape[1] - k]
        rows, cols = np.nonzero(masked >= bound[:, None])
    else:
        rows, cols = np.nonzero(np.ones(masked.shape, dtype=bool))
    # The pre-selected entries packed row by row into a narrow matrix (padding -inf), then ranked as one.
    counts = np.bincount(rows, minlength=n)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    packed = np.full((n, int(counts.max())), -np.inf, dtype=masked.dtype)
    where = np.zeros(packed.shape, dtype=np.int64)  # a padding position only ranks in rows with -inf scores
    slot = np.arange(rows.size) - starts[rows]
    packed[rows, slot] = masked[rows, cols]
    where[rows, slot] = cols
    if packed.shape[1] > k:
        part = np.argpartition(-packed, k - 1, axis=1)[:, :k]
        packed, where = np.take_along_axis(packed, part, axis=1), np.take_along_axis(where, part, axis=1)
    order = np.lexsort((where, -packed), axis=1)
    return np.take_along_axis(where, order, axis=1), np.take_along_axis(packed, order, axis=1)


def _fast_chunk(
    model: BatchModel,
    index: ItemIndex,
    lines: Sequence[InferenceLine],
    states: Sequence[UserState],
    bound: Sequence[BoundFilter | None],
    scores: npt.NDArray[np.float32],
    shown: npt.NDArray[np.float32],
    histories: Sequence[Sequence[int]],
    settings: JobSettings,
    template: Exploration | None,
    now: float,
    encoded_ids: Sequence[str],
) -> list[str | None]:
    """The output lines of a chunk's USER_PERSONALIZATION lines without context, ranked as a matrix: the item
    list ``answer.recommendations`` gives (``ranking.recommend`` over the same scores, masks and exploration draw)
    with the chunk's softmax as shown scores. None for a line the reference path must answer: one with context,
    a filter that can't be evaluated, fewer allowed items than numResults (UP-v2 then backfills popular items),
    or exploration with an impression discount."""
    n, catalogue = scores.shape
    k = settings.num_results
    fast = np.asarray([not line.context for line in lines], dtype=bool)
    if k <= 0 or k > catalogue or (template is not None and template.discount is not None):
        return [None] * n
    allowed = np.ones((n, catalogue), dtype=bool)
    for row, (line, state, b) in enumerate(zip(lines, states, bound, strict=True)):
        if b is None or not fast[row]:
            continue
        if b.filter.requires_user_id and line.user_id is None:
            fast[row] = False
            continue
        try:
            allowed[row] = filter_mask(b, index, FilterInputs(state.metadata or None, state.windows, None))
        except PersonalizeError:
            fast[row] = False  # the reference path writes the error line
    if model.exclude_seen:
        lengths = [len(h) for h in histories]
        if sum(lengths):
            allowed[np.repeat(np.arange(n), lengths), np.concatenate([np.asarray(h, np.int64) for h in histories])] = (
                False
            )
    masked = scores if allowed.all() else np.where(allowed, scores, np.float32(-np.inf))
    top, best = _top_rows(masked, k)
    fast &= np.isfinite(best).all(axis=1)
    explore = 0 if template is None else exploration_slots(k, template.weight)
    drawn_rows: list[list[int]] = [[] for _ in range(n)]
    tops: list[list[int]] = top.tolist()
    if template is not None and explore > 0:
        keep = max(0, k - explore)
        eligible = template.eligible_index
        if eligible is None:
            eligible = np.flatnonzero(template.eligible)
        allowed[np.repeat(np.arange(n), keep), top[:, :keep].ravel()] = False  # the kept items are not drawn
        candidates = allowed[:, eligible]
        base_weights = 1.0 / (1.0 + np.asarray(template.interactions, dtype=np.float64)[eligible])
        for row in np.flatnonzero(fast).tolist():
            pool = candidates[row]
            pick = eligible[pool]
            if pick.size == 0:
                continue
            size = min(explore, int(pick.size))
            weights = base_weights[pool]
            seed = answer.exploration_seed(settings.scope, lines[row].user_id, now)
            rng = np.random.default_rng(int.from_bytes(hashlib.blake2b(seed.encode(), digest_size=8).digest(), "big"))
            drawn = [int(i) for i in rng.choice(pick, size=size, replace=False, p=weights / weights.sum())]
            taken = set(drawn)
            regular = tops[row]
            rest = [i for i in regular[keep:] if i not in taken][: max(0, k - keep - size)]
            tops[row] = regular[:keep] + rest + drawn
            drawn_rows[row] = drawn
    v2 = model.recipe_arn.endswith(answer.V2_RECIPES)
    out: list[str | None] = [None] * n
    for row in np.flatnonzero(fast).tolist():
        items = tops[row]
        values_shown = shown[row, items].astype(np.float64).tolist()
        head = '{"input":' + json.dumps(lines[row].raw, separators=(",", ":"))
        body = '"recommendedItems":[' + ",".join([encoded_ids[i] for i in items]) + "]"
        body += ',"scores":[' + ",".join([repr(round(v, 7)) for v in values_shown]) + "]"
        if v2:
            drawn = drawn_rows[row]
            body += ',"reasons":[' + ",".join([_EXPLORED if i in drawn else "[]" for i in items]) + "]"
        out[row] = head + ',"output":{' + body + "}}"
    return out


_EXPLORED = json.dumps([REASON_EXPLORATION])
