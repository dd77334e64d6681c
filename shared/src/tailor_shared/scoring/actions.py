"""Next-Best-Action (aws-next-best-action) as the trainer and the runtime share it: the user features, the
propensity network's forward pass, the automatic rules (expiry, repeat frequency) and the ranking.

The trainer builds the same ``UserActivity`` from Kafka snapshots that the runtime reads from Redis, so a
user's features are one function of one input type in both places (docs/adr/0021). Pure: no I/O except
``ActionModel`` reading its model directory.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_shared.scoring.model import ExplorationData

F32 = npt.NDArray[np.float32]
PERSONALIZED_ACTIONS: Final = "PERSONALIZED_ACTIONS"
MODEL_KIND: Final = "actions"
TAKEN: Final = "TAKEN"
NOT_TAKEN: Final = "NOT_TAKEN"
VIEWED: Final = "VIEWED"
#: The event types a filter window may be stored under (case-folded, both of the guide's spellings).
WINDOW_EVENT_TYPES: Final = ("taken", "not_taken", "not taken", "viewed")
#: Action interactions per user per event type the model (like a filter, L15262) looks at.
ACTION_WINDOW: Final = 300
#: Item interactions per user per event type (the item filter window, L15258).
ITEM_WINDOW: Final = 100
#: An action gets a score after >= 50 TAKEN and >= 50 NOT_TAKEN-or-VIEWED interactions (L6758).
MIN_TAKEN: Final = 50
MIN_NOT_TAKEN: Final = 50
#: ... within 6 weeks of the latest action interaction (L6763).
SCORE_SPAN_S: Final = 6 * 7 * 86400
#: GetActionRecommendations numResults: default 5, max 100 (L12170).
DEFAULT_RESULTS: Final = 5
MAX_RESULTS: Final = 100
DAY_S: Final = 86400
#: REPEAT_FREQUENCY is in days, at most 30 (L4238).
MAX_REPEAT_DAYS: Final = 30
EXPIRATION_FIELDS: Final = ("ACTION_EXPIRATION_TIMESTAMP", "EXPIRATION_TIMESTAMP")


def event_kind(event_type: object) -> str | None:
    """TAKEN, NOT_TAKEN or VIEWED for any of the guide's spellings ("Not Taken", "not_taken"); else None."""
    text = str(event_type or "").strip().upper().replace(" ", "_")
    return text if text in (TAKEN, NOT_TAKEN, VIEWED) else None


@dataclass(frozen=True)
class UserActivity:
    """What the model knows of one user at one moment."""

    actions: Sequence[tuple[str, str, float]]  # (actionId, kind, timestamp), any order
    items: Mapping[str, float]  # itemId -> interactions in the user's item windows
    metadata: Mapping[str, str]  # Users row, upper-case field names

    def last_interaction(self) -> dict[str, float]:
        """Per action, the timestamp of the user's newest interaction of any kind (repeat frequency)."""
        out: dict[str, float] = {}
        for action, _kind, ts in self.actions:
            if ts > out.get(action, -math.inf):
                out[action] = ts
        return out


@dataclass(frozen=True)
class FeatureSpace:
    """The layout of a user's feature vector: log counts of TAKEN and of NOT_TAKEN/VIEWED per action, the
    user's items (L2-normalised presence over the trained feature items), the share of the user's items that
    carry each categorical Items token (their taste, L6839), and one-hot Users tokens."""

    action_ids: tuple[str, ...]
    item_ids: tuple[str, ...]
    user_tokens: tuple[str, ...]  # "FIELD=value"
    item_tokens: tuple[str, ...] = ()  # "FIELD=value" of the Items dataset
    item_token_map: Mapping[str, tuple[int, ...]] = field(default_factory=dict)  # itemId -> item_tokens indices

    def __post_init__(self) -> None:
        object.__setattr__(self, "_action", {a: i for i, a in enumerate(self.action_ids)})
        object.__setattr__(self, "_item", {a: i for i, a in enumerate(self.item_ids)})
        object.__setattr__(self, "_token", {a: i for i, a in enumerate(self.user_tokens)})

    @property
    def size(self) -> int:
        return 2 * len(self.action_ids) + len(self.item_ids) + len(self.user_tokens) + len(self.item_tokens)

    def vector(self, activity: UserActivity) -> F32:
        action: dict[str, int] = self.__dict__["_action"]
        item: dict[str, int] = self.__dict__["_item"]
        token: dict[str, int] = self.__dict__["_token"]
        n_a, n_i = len(self.action_ids), len(self.item_ids)
        out = np.zeros(self.size, dtype=np.float32)
        for action_id, kind, _ts in activity.actions:
            j = action.get(action_id)
            if j is not None:
                out[j if kind == TAKEN else n_a + j] += 1.0
        out[: 2 * n_a] = np.log1p(out[: 2 * n_a])
        hits = [item[i] for i in activity.items if i in item]
        if hits:
            out[2 * n_a + np.asarray(hits)] = 1.0 / math.sqrt(len(hits))
        for name, raw in activity.metadata.items():
            for value in str(raw).split("|"):
                k = token.get(f"{name.upper()}={value}")
                if k is not None:
                    out[2 * n_a + n_i + k] = 1.0
        base = 2 * n_a + n_i + len(self.user_tokens)
        total = 0.0
        for item_id, count in activity.items.items():
            tokens = self.item_token_map.get(item_id, ())
            for t in tokens:
                out[base + t] += count
            total += count if tokens else 0.0
        if total > 0:
            out[base:] /= total
        return out

    def matrix(self, activities: Sequence[UserActivity]) -> F32:
        out = np.zeros((len(activities), self.size), dtype=np.float32)
        for r, activity in enumerate(activities):
            out[r] = self.vector(activity)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "actions": list(self.action_ids),
            "items": list(self.item_ids),
            "userTokens": list(self.user_tokens),
            "itemTokens": list(self.item_tokens),
            "itemTokenMap": {k: list(v) for k, v in self.item_token_map.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FeatureSpace:
        tokens = {str(k): tuple(int(t) for t in v) for k, v in (data.get("itemTokenMap") or {}).items()}
        return cls(
            tuple(data["actions"]), tuple(data["items"]), tuple(data["userTokens"]), tuple(data["itemTokens"]), tokens
        )


@dataclass(frozen=True)
class PropensityWeights:
    """logit = x @ linear + relu(x @ hidden + hidden_bias) @ output + bias; propensity = sigmoid(logit)."""

    linear: F32  # [features, actions]
    hidden: F32  # [features, width]
    hidden_bias: F32  # [width]
    output: F32  # [width, actions]
    bias: F32  # [actions]

    def propensity(self, x: F32) -> F32:
        """Rows of features -> rows of propensities in (0, 1)."""
        h = np.maximum(x @ self.hidden + self.hidden_bias, 0.0)
        logit = x @ self.linear + h @ self.output + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-np.clip(logit, -30.0, 30.0))), dtype=np.float32)


#: ``PropensityWeights``' arrays in constructor order (one .npy file each in the model directory).
WEIGHT_ARRAYS: Final = ("linear", "hidden", "hidden_bias", "output", "bias")


# --- automatic rules and ranking --------------------------------------------------------------------------------
def _number(meta: Mapping[str, object] | None, *names: str) -> float | None:
    for name in names:
        raw = (meta or {}).get(name)
        if raw in (None, ""):
            continue
        try:
            return float(str(raw))
        except ValueError:
            continue
    return None


def expired(meta: Mapping[str, object] | None, now: float) -> bool:
    """An action past its ACTION_EXPIRATION_TIMESTAMP is never recommended (L4232)."""
    at = _number(meta, *EXPIRATION_FIELDS)
    return at is not None and at <= now


def repeat_blocked(meta: Mapping[str, object] | None, last_interaction: float | None, now: float) -> bool:
    """Inside REPEAT_FREQUENCY days of the user's latest interaction with the action (L4238)."""
    days = _number(meta, "REPEAT_FREQUENCY")
    if days is None or days <= 0 or last_interaction is None:
        return False
    return now - last_interaction < min(days, MAX_REPEAT_DAYS) * DAY_S


def action_value(meta: Mapping[str, object] | None) -> float:
    value = _number(meta, "VALUE")
    return 0.0 if value is None else value


def eligible(
    action_ids: Sequence[str], metadata: Mapping[str, Mapping[str, object]], activity: UserActivity, now: float
) -> npt.NDArray[np.bool_]:
    """Actions the automatic rules allow now for this user: not expired, not inside their repeat window."""
    last = activity.last_interaction()
    return np.array(
        [
            not expired(metadata.get(a), now) and not repeat_blocked(metadata.get(a), last.get(a), now)
            for a in action_ids
        ],
        dtype=bool,
    )


def rank(
    action_ids: Sequence[str],
    propensity: F32,
    scored: npt.NDArray[np.bool_],
    values: npt.NDArray[np.float64],
    fallback: npt.NDArray[np.float64],
    allowed: npt.NDArray[np.bool_],
    num_results: int,
) -> list[tuple[str, float]]:
    """Allowed actions, best first: propensity (0.0 for actions without enough interactions, L6756), then the
    higher VALUE on equal likelihood (L6753), then the non-personalized order ``fallback`` (take counts)."""
    score = np.where(scored, propensity, 0.0).astype(np.float64)
    idx = np.flatnonzero(allowed)
    order = np.lexsort((idx, -fallback[idx], -values[idx], -score[idx]))
    return [(action_ids[int(i)], float(score[i])) for i in idx[order][:num_results]]


def scoreable(
    action_ids: Sequence[str], kinds: Iterable[tuple[str, str, float]], latest: float
) -> npt.NDArray[np.bool_]:
    """Which actions have >= 50 TAKEN and >= 50 NOT_TAKEN-or-VIEWED interactions within 6 weeks of the latest
    action interaction (L6758-L6763)."""
    position = {a: i for i, a in enumerate(action_ids)}
    taken = np.zeros(len(action_ids), dtype=np.int64)
    other = np.zeros(len(action_ids), dtype=np.int64)
    for action, kind, ts in kinds:
        i = position.get(action)
        if i is None or ts < latest - SCORE_SPAN_S:
            continue
        if kind == TAKEN:
            taken[i] += 1
        else:
            other[i] += 1
    return (taken >= MIN_TAKEN) & (other >= MIN_NOT_TAKEN)


# --- the served model ----------------------------------------------------------------------------------------
class ActionModel:
    """A loaded Next-Best-Action solution version. It is a ``ServingModel`` over the action catalogue (so the
    runtime's registry loads and swaps it like any model); the action-specific parts are ``features``,
    ``weights``, ``scored``, ``values`` and ``metadata``."""

    exclude_seen: bool = False
    trend_seconds: int | None = None
    exploration: ExplorationData | None = None

    def __init__(self, directory: Path) -> None:
        manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
        if manifest.get("modelKind") != MODEL_KIND:
            raise ValueError(f"{directory} is not a Next-Best-Action model")
        self.manifest = manifest
        self.recipe_arn: str = manifest["recipeArn"]
        self.recipe_type: str = manifest["recipeType"]
        spec = manifest["actions"]
        self.features = FeatureSpace.from_json(json.loads((directory / spec["features"]).read_text()))
        self.item_ids: Sequence[str] = self.features.action_ids
        self.metadata: dict[str, dict[str, str]] = json.loads((directory / spec["metadata"]).read_text())

        def load(name: str) -> npt.NDArray[Any]:
            array: npt.NDArray[Any] = np.load(directory / spec["arrays"][name], allow_pickle=False)
            return array

        self.weights = PropensityWeights(*(load(n).astype(np.float32) for n in WEIGHT_ARRAYS))
        self.scored = load("scored").astype(bool)
        self.popularity: npt.NDArray[np.float64] = load("taken").astype(np.float64)
        self.unscored: npt.NDArray[np.bool_] | None = ~self.scored
        self.optimization_days = int(spec.get("actionOptimizationPeriod", 14))

    def propensities(self, activity: UserActivity) -> F32:
        out: F32 = self.weights.propensity(self.features.vector(activity)[None, :])[0]
        return out

    # ServingModel's item-recommendation methods: an action model serves only GetActionRecommendations.
    def user_history(self, user_id: str | None, live: Sequence[tuple[int, float]]) -> list[int]:
        return []

    def score_history(self, history: Sequence[int]) -> F32:
        return self.popularity.astype(np.float32)

    def context_shift(self, context: Mapping[str, str], user: Mapping[str, str] | None = None) -> F32 | None:
        return None

    def score_related(self, item: int) -> F32:
        return np.full(len(self.item_ids), -np.inf, dtype=np.float32)


def is_action_model(directory: Path) -> bool:
    manifest = json.loads((directory / "manifest.json").read_text())
    return bool(manifest.get("modelKind") == MODEL_KIND)
