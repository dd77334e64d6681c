"""What the runtime needs from a trained model, independent of how it is stored (ONNX or tables)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float32]


@dataclass(frozen=True, eq=False)  # hashed by identity: per-model caches (``answer.exploration_for``)
class ExplorationData:
    """What item exploration needs from a User-Personalization model (docs/specs/model-artifact.md)."""

    defaults: Mapping[str, str]  # explorationWeight, explorationItemAgeCutOff
    configurable: bool  # UP: the campaign's itemExplorationConfig applies; UP-v2: service-managed defaults
    creation: npt.NDArray[np.int64]  # item age reference (CREATION_TIMESTAMP, first interaction, or "new")
    interactions: npt.NDArray[np.int64]  # per item, at training time
    latest_interaction: int


def feature_row(values: Mapping[str, int], edges: npt.NDArray[np.float64] | None, value: str) -> int | None:
    """The lift row of a Users-dataset value (ADR 0020): categorical by exact value, numeric by its quantile bin
    (``edges``: inner bin edges, a value on an edge goes to the upper bin); None when it has no row."""
    if edges is None:
        return values.get(value)
    try:
        number = float(value)
    except ValueError:
        return None
    return int(np.searchsorted(edges, number, side="right")) if math.isfinite(number) else None


class ServingModel(Protocol):
    """A loaded solution version. Scores are over ``item_ids``; -inf marks items the model can't score."""

    recipe_arn: str
    recipe_type: str  # USER_PERSONALIZATION | PERSONALIZED_RANKING | RELATED_ITEMS | POPULAR_ITEMS
    item_ids: Sequence[str]
    popularity: npt.NDArray[np.float64]  # interaction counts at training time (cold users, backfill)
    exclude_seen: bool  # drop the user's own recent items from recommendations (items are consumed once)
    unscored: npt.NDArray[np.bool_] | None  # items the model has no interactions data for (ranked unscored)
    trend_seconds: int | None  # Trending-Now: the window size (trendDiscoveryFrequency); None otherwise
    exploration: ExplorationData | None  # User-Personalization(-v2) only

    def user_history(self, user_id: str | None, live: Sequence[tuple[int, float]]) -> list[int]:
        """The model input: the user's training-time items plus live (item index, timestamp) events, oldest
        first."""
        ...

    def score_history(self, history: Sequence[int]) -> Scores:
        """Scores for a user whose recent items (indices into ``item_ids``, oldest first) are ``history``."""
        ...

    def context_shift(self, context: Mapping[str, str], user: Mapping[str, str] | None = None) -> Scores | None:
        """Additive logit adjustment for the request's contextual metadata and the user's Users-dataset row
        (upper-case field -> stored value); None: no known field/value."""
        ...

    def score_related(self, item: int) -> Scores:
        """Scores of items related to ``item`` (RELATED_ITEMS recipes)."""
        ...
