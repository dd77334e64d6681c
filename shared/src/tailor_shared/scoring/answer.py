"""One recommendation request answered end to end, given what was read for it: the online runtime's
GetRecommendations / GetPersonalizedRanking and the batch worker's lines both call these (ADR 0016), so a batch
line equals the online answer for the same request on a campaign of the same solution version.

Pure: the caller reads the user's state (``tailor_shared.redis_keys.UserState``) and, for Trending-Now, the
trend values; validation of the request's fields stays with each caller.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from tailor_shared.filters import BoundFilter, interaction_windows
from tailor_shared.redis_keys import UserState
from tailor_shared.scoring.filtering import FilterInputs, ItemIndex, filter_mask, filter_parts
from tailor_shared.scoring.masks import Allowed, allowed_at
from tailor_shared.scoring.model import ExplorationData, Scores, ServingModel
from tailor_shared.scoring.ranking import (
    Candidates,
    Exploration,
    Mask,
    Need,
    Promotion,
    Ranked,
    Values,
    draw_weights,
    exploration_eligible,
    rank_input_list,
    recommend,
    related_ranking,
)

V2_RECIPES = ("aws-user-personalization-v2", "aws-personalized-ranking-v2")
EXPLORATION_PERIOD_S = 7200  # explored items change with Personalize's automatic update cadence, not per request


@dataclass(frozen=True)
class PromotionRequest:
    name: str
    percent: int
    bound: BoundFilter


def state_event_types(*filters: BoundFilter | None) -> tuple[list[str], bool]:
    """The event types whose windows the filters read, and whether one reads every type's (``IN ("*")``)."""
    types, wildcard = interaction_windows(*filters)
    return list(types), wildcard


def exploration_for(
    model: ServingModel,
    config: Mapping[str, object] | None,
    scope: str,
    user_id: str | None,
    now: float | None = None,
    discount: npt.NDArray[np.float64] | None = None,
) -> Exploration | None:
    """Item exploration (UP: ``config``, the campaign's or batch job's itemExplorationConfig, over the model's
    defaults; UP-v2: the defaults, service-managed). The draw is seeded per solution version (``scope``), user and
    automatic-update period, so every path that serves the version draws the same items (ADR 0009 §18, 0016).
    ``discount``: per item, how much impressions without a choice lower its weight (``scoring.impressions``)."""
    settings = exploration_settings(model, config)
    return None if settings is None else user_exploration(settings, scope, user_id, now, discount)


def exploration_settings(model: ServingModel, config: Mapping[str, object] | None) -> Exploration | None:
    """The user-independent part of ``exploration_for`` (None: no exploration), for a caller to keep per model and
    config (the runtime, per deployment: ~7 µs a request otherwise); its ``seed`` is empty."""
    data = model.exploration
    if data is None:
        return None
    settings = dict(data.defaults)
    if data.configurable and isinstance(config, Mapping):
        settings.update({str(k): str(v) for k, v in config.items()})
    weight = float(settings.get("explorationWeight", "0"))
    if weight <= 0:
        return None
    cutoff = float(settings.get("explorationItemAgeCutOff", "30"))
    eligible, eligible_index = _eligible(data, cutoff)
    return Exploration(weight, eligible, data.interactions, "", None, eligible_index, _base_weights(data))


def user_exploration(
    settings: Exploration,
    scope: str,
    user_id: str | None,
    now: float | None = None,
    discount: npt.NDArray[np.float64] | None = None,
) -> Exploration:
    """``settings`` (from ``exploration_settings``) seeded for the user and period, with the impressions'
    ``discount``."""
    s = settings
    seed = exploration_seed(scope, user_id, now)
    return Exploration(s.weight, s.eligible, s.interactions, seed, discount, s.eligible_index, s.base_weights)


@functools.lru_cache(maxsize=256)
def _eligible(data: ExplorationData, cutoff: float) -> tuple[Mask, npt.NDArray[np.int64]]:
    """The eligible items per model and cut-off, as a mask and as positions, computed once (O(catalogue) passes
    per request otherwise); read-only."""
    eligible = exploration_eligible(data.creation, data.latest_interaction, cutoff)
    index = np.flatnonzero(eligible).astype(np.int64)
    eligible.flags.writeable = False
    index.flags.writeable = False
    return eligible, index


@functools.lru_cache(maxsize=64)
def _base_weights(data: ExplorationData) -> npt.NDArray[np.float64]:
    """The model's per-item draw weights, computed once (a catalogue-sized conversion per request otherwise)."""
    weights = draw_weights(data.interactions)
    weights.flags.writeable = False
    return weights


def exploration_seed(scope: str, user_id: str | None, now: float | None = None) -> str:
    """The seed of a user's exploration draw: the solution version (``scope``), the user, the period."""
    period = int((time.time() if now is None else now) // EXPLORATION_PERIOD_S)
    return f"{scope}|{user_id}|{period}"


def with_context(scores: Values, shift: Values | None) -> Values:
    """Logits plus the context's lift (ADR 0006: the naive-Bayes update), before softmax and ranking."""
    return scores if shift is None else scores + shift


def history(model: ServingModel, index: ItemIndex, user_id: str | None, state: UserState) -> list[int]:
    """Training-time items of the user (if the model knows them) followed by their newer live events."""
    position = index.position
    live = [(position[e.item_id], e.timestamp) for e in reversed(state.history) if e.item_id in position]
    return model.user_history(user_id, live)


class CandidateSource(Protocol):
    """Scores a user's best candidates instead of the whole catalogue (``scoring.retrieval.Retrieval``)."""

    def candidates(self, history: Sequence[int], needs: Sequence[Need]) -> Candidates: ...


def _allowed(bound: BoundFilter, index: ItemIndex, inputs: FilterInputs, excluded: list[int]) -> Allowed:
    """The items ``bound`` passes less ``excluded``. A filter of item metadata less the user's interactions keeps
    its catalogue-level mask (the same array for every such request: retrieval's per-mask cache key, ADR 0019 §11)
    and adds its exclusions to ``excluded``; any other filter's mask is computed for the request."""
    parts = filter_parts(bound, index, inputs)
    if parts is not None:
        return Allowed(len(index), excluded + parts[1], parts[0])
    return Allowed(len(index), excluded, filter_mask(bound, index, inputs))


def recommendations(
    model: ServingModel,
    index: ItemIndex,
    *,
    user_id: str | None,
    item_id: str | None,
    state: UserState,
    bound: BoundFilter | None,
    num_results: int,
    context: Mapping[str, str],
    exploration: Exploration | None,
    seed: str,
    promotion: PromotionRequest | None = None,
    trend_values: Values | None = None,
    auto_exclude_event_type: str | None = None,
    base_scores: Scores | None = None,
    retrieval: CandidateSource | None = None,
) -> list[Ranked]:
    """GetRecommendations' item list (USER_PERSONALIZATION, RELATED_ITEMS, POPULAR_ITEMS; ``trend_values`` for
    Trending-Now). ``state`` holds the filters' windows (see ``state_event_types``); ``seed`` places promotions.
    ``base_scores``: the model's scores of this user's ``history``, when the caller scored users in a batch.
    ``retrieval``: score candidates only (large catalogues, ADR 0019), unless the request's context shifts every
    item's score."""
    consumed: list[int] = []
    if auto_exclude_event_type and user_id is not None:  # e.g. Recommended for you drops purchases
        window = state.windows.get(auto_exclude_event_type.casefold(), [])
        consumed = [index.position[i] for i in window if i in index.position]
    scored = True
    scores: Values | Candidates | None = None
    seen: list[int] = []
    past: list[int] = []
    if model.recipe_type == "USER_PERSONALIZATION":
        past = history(model, index, user_id, state)
        shift = model.context_shift(context, state.metadata)
        if retrieval is None or base_scores is not None or shift is not None:
            scores = with_context(model.score_history(past) if base_scores is None else base_scores, shift)
        if model.exclude_seen:  # items are consumed once in this data (docs/specs/model-artifact.md)
            seen = past
    elif model.recipe_type == "RELATED_ITEMS":
        pos = index.position.get(item_id) if item_id is not None else None
        scores = related_ranking(None if pos is None else model.score_related(pos), model.popularity, pos)
        scored = False
        exploration = None
    elif trend_values is not None:
        scores, scored, exploration = trend_values, False, None
    else:
        scores, scored, exploration = model.popularity, False, None
    current_item = index.metadata.get(item_id) if item_id else None
    inputs = FilterInputs(state.metadata or None, state.windows, current_item or ({} if item_id else None))
    excluded = seen + consumed  # never recommended, promoted or not
    # The filter's mask (or none: every item) less the exclusions, kept apart: retrieval asks about its candidates
    # only, so a plain request allocates nothing catalogue-sized (ADR 0019 §8).
    mask = _allowed(bound, index, inputs, excluded) if bound else Allowed(len(index), excluded)
    promoted = None
    if promotion is not None:
        promo_mask = _allowed(promotion.bound, index, inputs, excluded)
        # Its candidates as positions, kept per catalogue when the promotion's filter reads only item metadata
        # (the usual "new arrivals"): the promoted picks then rank ~the promoted items, not the catalogue.
        positions = index.filter_positions(promotion.bound) if scores is not None else None
        if positions is not None and excluded:
            positions = positions[allowed_at(promo_mask, positions)]  # minus the exclusions: a gather
        promoted = Promotion(promotion.name, promotion.percent, promo_mask, positions)
    if scores is None:
        assert retrieval is not None
        needs = [Need(mask, num_results)]
        if promoted is not None:
            needs.append(Need(promoted.mask, (num_results * promoted.percent) // 100))
        scores = retrieval.candidates(past, needs)
    v2 = model.recipe_arn.endswith(V2_RECIPES)
    return recommend(
        scores,
        mask,
        num_results,
        normalise=scored and model.recipe_type == "USER_PERSONALIZATION",
        popularity=model.popularity,
        backfill_popular=v2,
        show_reasons=v2,
        promotion=promoted,
        exploration=exploration,
        seed=seed,
    )


def personalized_ranking(
    model: ServingModel,
    index: ItemIndex,
    *,
    user_id: str | None,
    state: UserState,
    bound: BoundFilter | None,
    input_list: Sequence[str],
    context: Mapping[str, str],
    base_scores: Scores | None = None,
) -> list[tuple[str, float | None]]:
    """GetPersonalizedRanking's list: (item id, score or None), best first (``base_scores`` as in
    ``recommendations``)."""
    raw = model.score_history(history(model, index, user_id, state)) if base_scores is None else base_scores
    scores = with_context(raw, model.context_shift(context, state.metadata))
    keep = filter_mask(bound, index, FilterInputs(state.metadata or None, state.windows)) if bound else None
    known = [(i, index.position[it]) for i, it in enumerate(input_list) if it in index.position]
    if keep is not None:
        known = [(i, p) for i, p in known if keep[p]]
    # Items without interactions data come after the scored ones, without a score (L6450); items the model
    # doesn't know at all go to the end (L12222). Both keep their input order. The filter can only judge items
    # in the model's catalogue; unknown items are returned as they are.
    unscored = model.unscored
    cold: list[tuple[int, int]] = []
    if unscored is not None:
        cold = [(i, p) for i, p in known if unscored[p]]
        known = [(i, p) for i, p in known if not unscored[p]]
    ranked = rank_input_list(np.array([scores[p] for _, p in known], dtype=np.float32))
    out: list[tuple[str, float | None]] = [(index.item_ids[known[j][1]], score) for j, score in ranked]
    out.extend((index.item_ids[p], None) for _, p in cold)
    out.extend((item, None) for item in input_list if item not in index.position)
    return out
