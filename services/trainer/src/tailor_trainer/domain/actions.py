"""Next-Best-Action (aws-next-best-action, PERSONALIZED_ACTIONS): a propensity model per (user, action).

What is learnt: the probability that a user takes an action within the action optimization period
(``action_optimization_period`` days, default 14, L6860) after it is shown, from what the user did before:
their action interactions (TAKEN / NOT_TAKEN / VIEWED per action), the items they interacted with, and their
Users row. One training example is a user at a cut time ``t`` (one of their action interactions): the
features are ``UserActivity`` at ``t`` built exactly as the runtime builds it from Redis (the same windows:
300 action interactions and 100 item interactions per event type), the labels are the actions the user
interacted with in ``[t, t + period)``: 1 if taken, 0 if only viewed or not taken. A small network
(``tailor_shared.scoring.actions.PropensityWeights``) is fitted with a masked binary cross-entropy.

Evaluation follows the guide (L10937-L10941): 90 % of the users train (10 % of those are the validation set
that picks the epoch), 10 % are tested: their oldest 90 % of action interactions are the input, the actions of
the newest 10 % within the period are the truth. Metrics: ``precision``, ``recall`` and
``area_under_the_curve`` (L11112, L11150, L11162), next to the popularity-of-actions baseline (each action's
take rate, the same for every user). Pure compute: no I/O.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch

from tailor_shared import recipes
from tailor_shared.scoring.actions import (
    ACTION_WINDOW,
    DAY_S,
    ITEM_WINDOW,
    PERSONALIZED_ACTIONS,
    TAKEN,
    FeatureSpace,
    PropensityWeights,
    UserActivity,
    event_kind,
    scoreable,
)
from tailor_trainer.domain.data import MIN_INTERACTIONS, DataRuleViolation, Interactions, ItemsTable, UsersTable
from tailor_trainer.domain.train import TrainingStopped

RECIPE: Final = "aws-next-best-action"
#: "During model training, Amazon Personalize considers a maximum of 1000 actions" (L4212).
MAX_ACTIONS: Final = 1000
FEATURE_ITEMS: Final = 512  # most interacted items that are features
FEATURE_USER_TOKENS: Final = 256  # most frequent categorical Users values that are features
FEATURE_ITEM_TOKENS: Final = 256  # most frequent categorical Items values that are features
CUTS_PER_USER: Final = 8  # training examples per user (cut times among their action interactions)
HIDDEN: Final = 32
MAX_EPOCHS: Final = 80
PATIENCE: Final = 8
LEARNING_RATE: Final = 0.01
WEIGHT_DECAY: Final = 1e-4
BATCH: Final = 1024
TEST_FRACTION: Final = 0.1
THRESHOLD: Final = 0.5  # a propensity at or above it predicts "takes the action" (precision, recall)
METRIC_NAMES: Final = ("precision", "recall", "area_under_the_curve")
BASELINE: Final = "popularity of actions"

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ActionsTable:
    """The Actions dataset (latest row per action), columnar."""

    action_id: npt.NDArray[Any]
    columns: Mapping[str, npt.NDArray[Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class ActionInteractions:
    """The Action interactions dataset, columnar; impressions and other columns are not used (L6835)."""

    user_id: npt.NDArray[Any]
    action_id: npt.NDArray[Any]
    timestamp: npt.NDArray[Any]
    event_type: npt.NDArray[Any]

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass
class ActionModelResult:
    """What ``tailor_trainer.action_artifacts.export`` writes and the report shows."""

    recipe_arn: str
    features: FeatureSpace
    weights: PropensityWeights
    scored: npt.NDArray[np.bool_]  # actions with enough recent interactions to get a score
    taken: npt.NDArray[np.int64]  # TAKEN interactions per action (the non-personalized order)
    metadata: dict[str, dict[str, str]]  # Actions rows of the trained actions, as strings
    metrics: dict[str, float]
    baselines: dict[str, dict[str, float]]
    hyperparameters: dict[str, str]
    data_summary: dict[str, Any]
    history: list[dict[str, float]]
    latest_interaction_timestamp: int
    optimization_days: int
    training_seconds: float = 0.0
    tuned_hpo_params: dict[str, str] | None = None  # never set: the recipe has no HPO (L6844)
    training_stop: dict[str, Any] = field(default_factory=dict)  # epochs run and why they ended


@dataclass(frozen=True)
class _Timeline:
    """One user's events, oldest first."""

    actions: list[tuple[str, str, float]]  # (actionId, kind, ts)
    items: list[tuple[str, str, float]]  # (itemId, eventType, ts)
    metadata: Mapping[str, str]

    def activity(self, cut: float) -> UserActivity:
        """The user as the runtime sees them at ``cut``: the newest 300 action interactions and 100 item
        interactions per event type before it (the stream's filter windows), their Users row."""
        per_kind: dict[str, int] = defaultdict(int)
        actions: list[tuple[str, str, float]] = []
        for a, kind, ts in reversed(self.actions):
            if ts < cut and per_kind[kind] < ACTION_WINDOW:
                per_kind[kind] += 1
                actions.append((a, kind, ts))
        per_type: dict[str, int] = defaultdict(int)
        items: Counter[str] = Counter()
        for i, et, ts in reversed(self.items):
            if ts < cut and per_type[et] < ITEM_WINDOW:
                per_type[et] += 1
                items[i] += 1
        return UserActivity(actions, dict(items), self.metadata)

    def labels(self, start: float, end: float) -> dict[str, float]:
        """Actions interacted with in ``[start, end)``: 1.0 if taken, else 0.0."""
        out: dict[str, float] = {}
        for a, kind, ts in self.actions:
            if start <= ts < end:
                out[a] = max(out.get(a, 0.0), 1.0 if kind == TAKEN else 0.0)
        return out


@dataclass
class _Examples:
    x: FloatArray  # [n, features]
    y: FloatArray  # [n, actions]
    mask: FloatArray  # [n, actions]: 1 where labelled


def train_next_best_action(
    recipe_arn: str,
    interactions: Interactions,
    items: ItemsTable | None,
    actions: ActionsTable | None,
    action_interactions: ActionInteractions | None,
    users: UsersTable | None,
    solution_config: Mapping[str, Any],
    seed: int,
    should_stop: Callable[[], bool] | None = None,
) -> ActionModelResult:
    """Train one NBA solution version. Raises ``DataRuleViolation`` with the failureReason text."""
    started = time.monotonic()
    if len(interactions) < MIN_INTERACTIONS:
        raise DataRuleViolation(f"Create failed. Dataset has fewer than {MIN_INTERACTIONS} interactions.")
    if actions is None or len(actions.action_id) == 0:
        raise DataRuleViolation("Create failed. The Actions dataset has no data: import actions before training.")
    params = recipes.training_parameters(
        recipe_arn,
        solution_config.get("algorithmHyperParameters") or {},
        solution_config.get("featureTransformationParameters") or {},
    )
    days = int(params.get("action_optimization_period", "14"))
    period = days * DAY_S
    rows = _action_rows(action_interactions)
    action_ids = _choose_actions(actions, rows)
    known = set(action_ids)
    rows = [r for r in rows if r[1] in known]
    timelines = _timelines(rows, interactions, users)
    latest = max((r[3] for r in rows), default=int(np.max(interactions.timestamp)))
    item_tokens, token_map = _item_tokens(items)
    features = FeatureSpace(
        tuple(action_ids), _feature_items(interactions), _user_tokens(users), item_tokens, token_map
    )
    position = {a: i for i, a in enumerate(action_ids)}
    taken = np.zeros(len(action_ids), dtype=np.int64)
    for _u, a, kind, _ts in rows:
        if kind == TAKEN:
            taken[position[a]] += 1
    scored = scoreable(action_ids, ((a, k, ts) for _u, a, k, ts in rows), latest)

    rng = np.random.default_rng(seed)
    with_actions = sorted(u for u, t in timelines.items() if t.actions)
    order = rng.permutation(len(with_actions))
    n_test = round(TEST_FRACTION * len(with_actions))
    test_users = [with_actions[i] for i in order[:n_test]]
    rest = [with_actions[i] for i in order[n_test:]]
    n_val = round(TEST_FRACTION * len(rest))
    val_users, train_users = rest[:n_val], rest[n_val:]
    train = _examples(features, position, [timelines[u] for u in train_users], period, rng, CUTS_PER_USER)
    val = _examples(features, position, [timelines[u] for u in val_users], period, rng, CUTS_PER_USER)
    test = _holdout_examples(features, position, [timelines[u] for u in test_users], period)
    weights, history = _fit(features.size, len(action_ids), train, val, seed, should_stop)
    if should_stop is not None and should_stop():
        raise TrainingStopped("training was stopped")
    rate = _take_rates(train, len(action_ids))
    metrics = evaluate(weights.propensity(test.x), test)
    baseline = evaluate(np.broadcast_to(rate, test.y.shape).astype(np.float32), test)
    return ActionModelResult(
        recipe_arn=recipe_arn,
        features=features,
        weights=weights,
        scored=scored,
        taken=taken,
        metadata=_metadata(actions, known),
        metrics=metrics,
        baselines={BASELINE: baseline},
        hyperparameters={"action_optimization_period": str(days)},
        data_summary={
            "recipeType": PERSONALIZED_ACTIONS,
            "actions": len(action_ids),
            "actionsWithScores": int(scored.sum()),
            "actionInteractions": len(rows),
            "itemInteractions": len(interactions),
            "users": len(timelines),
            "trainingUsers": len(train_users),
            "validationUsers": len(val_users),
            "testUsers": len(test_users),
            "trainingExamples": int(train.mask.sum()),
            "testExamples": int(test.mask.sum()),
            "latestInteractionTimestamp": int(latest),
        },
        history=history,
        training_stop={"epochs": len(history), "reason": "validation AUC stopped improving or epoch limit"},
        latest_interaction_timestamp=int(latest),
        optimization_days=days,
        training_seconds=time.monotonic() - started,
    )


# --- data ------------------------------------------------------------------------------------------------------
def _action_rows(table: ActionInteractions | None) -> list[tuple[str, str, str, int]]:
    """(user, action, kind, ts) of the rows with a user and one of the three event types, in time order."""
    if table is None:
        return []
    out: list[tuple[str, str, str, int]] = []
    for u, a, ts, et in zip(table.user_id, table.action_id, table.timestamp, table.event_type, strict=True):
        kind = event_kind(et)
        if kind is not None and u not in (None, ""):
            out.append((str(u), str(a), kind, int(ts)))
    out.sort(key=lambda r: r[3])
    return out


def _choose_actions(actions: ActionsTable, rows: Sequence[tuple[str, str, str, int]]) -> list[str]:
    """At most 1000 actions: new ones (no interactions) first, then the most recently interacted (L4212)."""
    ids = list(dict.fromkeys(str(a) for a in actions.action_id))
    if len(ids) <= MAX_ACTIONS:
        return ids
    last: dict[str, int] = {}
    for _u, a, _k, ts in rows:
        last[a] = ts
    ranked = sorted(ids, key=lambda a: (a in last, -last.get(a, 0)))
    return sorted(ranked[:MAX_ACTIONS], key=ids.index)


def _timelines(
    rows: Sequence[tuple[str, str, str, int]], interactions: Interactions, users: UsersTable | None
) -> dict[str, _Timeline]:
    acts: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    for u, a, kind, ts in rows:
        acts[u].append((a, kind, float(ts)))
    items: dict[str, list[tuple[str, str, float]]] = defaultdict(list)
    ets = interactions.event_type if interactions.event_type is not None else [""] * len(interactions)
    order = np.argsort(np.asarray(interactions.timestamp, dtype=np.int64), kind="stable")
    for k in order:
        u = str(interactions.user_id[k])
        if u in acts:
            items[u].append(
                (str(interactions.item_id[k]), str(ets[k] or "").casefold(), float(interactions.timestamp[k]))
            )
    meta = _users_metadata(users, set(acts))
    return {u: _Timeline(acts[u], items.get(u, []), meta.get(u, {})) for u in acts}


def _users_metadata(users: UsersTable | None, wanted: set[str]) -> dict[str, dict[str, str]]:
    if users is None:
        return {}
    out: dict[str, dict[str, str]] = {}
    names = [n for n in users.columns if n in users.categorical]
    for r, u in enumerate(users.user_id):
        if str(u) in wanted:
            out[str(u)] = {n.upper(): str(users.columns[n][r]) for n in names if users.columns[n][r] not in (None, "")}
    return out


def _feature_items(interactions: Interactions) -> tuple[str, ...]:
    counts = Counter(str(i) for i in interactions.item_id)
    return tuple(sorted(i for i, _ in counts.most_common(FEATURE_ITEMS)))


def _user_tokens(users: UsersTable | None) -> tuple[str, ...]:
    if users is None:
        return ()
    counts: Counter[str] = Counter()
    for name in users.columns:
        if name not in users.categorical:
            continue
        for raw in users.columns[name]:
            if raw not in (None, ""):
                counts.update(f"{name.upper()}={v}" for v in str(raw).split("|"))
    return tuple(sorted(t for t, _ in counts.most_common(FEATURE_USER_TOKENS)))


def _item_tokens(items: ItemsTable | None) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]]]:
    """The most frequent categorical Items tokens and each item's tokens among them."""
    if items is None:
        return (), {}
    names = [n for n in items.columns if n in items.categorical]
    per_item: dict[str, list[str]] = {}
    counts: Counter[str] = Counter()
    for r, item in enumerate(items.item_id):
        tokens = [
            f"{n.upper()}={v}"
            for n in names
            if items.columns[n][r] not in (None, "")
            for v in str(items.columns[n][r]).split("|")
        ]
        per_item[str(item)] = tokens
        counts.update(tokens)
    kept = tuple(sorted(t for t, _ in counts.most_common(FEATURE_ITEM_TOKENS)))
    index = {t: k for k, t in enumerate(kept)}
    mapping = {i: tuple(index[t] for t in ts if t in index) for i, ts in per_item.items()}
    return kept, {i: ts for i, ts in mapping.items() if ts}


def _metadata(actions: ActionsTable, known: set[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for r, a in enumerate(actions.action_id):
        if str(a) in known:
            out[str(a)] = {
                n.upper(): _text(col[r])
                for n, col in actions.columns.items()
                if n != "ACTION_ID" and col[r] is not None
            }
    return out


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _examples(
    features: FeatureSpace,
    position: Mapping[str, int],
    timelines: Sequence[_Timeline],
    period: int,
    rng: np.random.Generator,
    cuts: int,
) -> _Examples:
    """Training examples: each user at up to ``cuts`` of their action interactions' timestamps."""
    activities: list[UserActivity] = []
    labels: list[dict[str, float]] = []
    for t in timelines:
        times = sorted({ts for _a, _k, ts in t.actions})
        chosen = times if len(times) <= cuts else sorted(rng.choice(times, size=cuts, replace=False).tolist())
        for cut in chosen:
            activities.append(t.activity(cut))
            labels.append(t.labels(cut, cut + period))
    return _stack(features, position, activities, labels)


def _holdout_examples(
    features: FeatureSpace, position: Mapping[str, int], timelines: Sequence[_Timeline], period: int
) -> _Examples:
    """One example per held-out user: the oldest 90 % of their action interactions as input, the actions of
    the newest 10 % (within the optimization period) as truth (L10941)."""
    activities: list[UserActivity] = []
    labels: list[dict[str, float]] = []
    for t in timelines:
        n = len(t.actions)
        if n < 2:
            continue
        cut = t.actions[min(max((9 * n) // 10, 1), n - 1)][2]
        activities.append(t.activity(cut))
        labels.append(t.labels(cut, cut + period))
    return _stack(features, position, activities, labels)


def _stack(
    features: FeatureSpace,
    position: Mapping[str, int],
    activities: Sequence[UserActivity],
    labels: Sequence[Mapping[str, float]],
) -> _Examples:
    n, a = len(activities), len(position)
    y = np.zeros((n, a), dtype=np.float32)
    mask = np.zeros((n, a), dtype=np.float32)
    for r, lab in enumerate(labels):
        for action, value in lab.items():
            y[r, position[action]] = value
            mask[r, position[action]] = 1.0
    return _Examples(features.matrix(activities), y, mask)


def _take_rates(train: _Examples, n_actions: int) -> FloatArray:
    """Each action's take rate among its labelled training examples (smoothed toward the overall rate)."""
    overall = float(train.y.sum() / max(train.mask.sum(), 1.0))
    taken = (train.y * train.mask).sum(axis=0)
    shown = train.mask.sum(axis=0)
    return np.asarray((taken + 5.0 * overall) / (shown + 5.0), dtype=np.float32).reshape(n_actions)


# --- model -----------------------------------------------------------------------------------------------------
class _Net(torch.nn.Module):
    def __init__(self, n_features: int, n_actions: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(n_features, n_actions)
        self.hidden = torch.nn.Linear(n_features, HIDDEN)
        self.output = torch.nn.Linear(HIDDEN, n_actions, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.linear(x) + self.output(torch.relu(self.hidden(x)))
        return out

    def weights(self) -> PropensityWeights:
        def arr(t: torch.Tensor) -> FloatArray:
            return np.ascontiguousarray(t.detach().numpy().astype(np.float32))

        return PropensityWeights(
            arr(self.linear.weight.T),
            arr(self.hidden.weight.T),
            arr(self.hidden.bias),
            arr(self.output.weight.T),
            arr(self.linear.bias),
        )


def _fit(
    n_features: int,
    n_actions: int,
    train: _Examples,
    val: _Examples,
    seed: int,
    should_stop: Callable[[], bool] | None,
) -> tuple[PropensityWeights, list[dict[str, float]]]:
    """Adam on the masked cross-entropy; the epoch with the best validation AUC (log loss when the validation
    set can't rank) is kept."""
    torch.manual_seed(seed)
    net = _Net(n_features, n_actions)
    with torch.no_grad():  # start at the overall take rate: an untrained action predicts the average
        rate = float(train.y.sum() / max(train.mask.sum(), 1.0))
        net.linear.bias.fill_(math.log(max(rate, 1e-3) / max(1 - rate, 1e-3)))
    if train.mask.sum() == 0:
        return net.weights(), []
    opt = torch.optim.Adam(net.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY)
    x, y, m = (torch.from_numpy(a) for a in (train.x, train.y, train.mask))
    rows = torch.from_numpy(np.flatnonzero(train.mask.sum(axis=1) > 0))
    generator = torch.Generator().manual_seed(seed)
    best, best_state, stale = -math.inf, net.weights(), 0
    history: list[dict[str, float]] = []
    for epoch in range(MAX_EPOCHS):
        if should_stop is not None and should_stop():
            break
        net.train()
        perm = rows[torch.randperm(len(rows), generator=generator)]
        total = 0.0
        for start in range(0, len(perm), BATCH):
            b = perm[start : start + BATCH]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[b]), y[b], weight=m[b], reduction="sum")
            loss = loss / m[b].sum().clamp(min=1.0)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            total += float(loss.detach()) * len(b)
        weights = net.weights()
        if val.mask.sum() > 0:
            p = weights.propensity(val.x)
            auc = _auc(p[val.mask > 0], val.y[val.mask > 0])
            score = auc if not math.isnan(auc) else -_log_loss(p, val)
        else:
            auc, score = math.nan, -total
        stat = {"epoch": float(epoch + 1), "loss": total / max(len(perm), 1)}
        history.append(stat if math.isnan(auc) else {**stat, "validationAuc": auc})
        if score > best + 1e-5:
            best, best_state, stale = score, weights, 0
        else:
            stale += 1
            if stale >= PATIENCE:
                break
    return best_state, history


def _log_loss(p: FloatArray, ex: _Examples) -> float:
    q = np.clip(p, 1e-6, 1 - 1e-6)
    ll = -(ex.y * np.log(q) + (1 - ex.y) * np.log(1 - q)) * ex.mask
    return float(ll.sum() / max(ex.mask.sum(), 1.0))


# --- metrics ---------------------------------------------------------------------------------------------------
def evaluate(propensity: FloatArray, ex: _Examples) -> dict[str, float]:
    """precision, recall (averaged over actions, L11114, L11152) and AUC over the labelled pairs."""
    labelled = ex.mask > 0
    predicted = (propensity >= THRESHOLD) & labelled
    actual = (ex.y > 0) & labelled
    hits = (predicted & actual).sum(axis=0)
    n_pred, n_act = predicted.sum(axis=0), actual.sum(axis=0)
    precision = [h / p for h, p in zip(hits, n_pred, strict=True) if p > 0]
    recall = [h / a for h, a in zip(hits, n_act, strict=True) if a > 0]
    auc = _auc(propensity[labelled], ex.y[labelled])
    return {
        "precision": float(np.mean(precision)) if precision else 0.0,
        "recall": float(np.mean(recall)) if recall else 0.0,
        "area_under_the_curve": 0.0 if math.isnan(auc) else auc,
    }


def _auc(scores: FloatArray, labels: FloatArray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) statistic, ties counted half; NaN without both classes."""
    pos = labels > 0
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return math.nan
    _values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    ranks = ((ends - counts + 1 + ends) / 2.0)[inverse.reshape(-1)]  # 1-based, ties get their average rank
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# --- row input (tests, benchmarks) ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NbaTables:
    """The five datasets as the trainer takes them."""

    interactions: Interactions
    items: ItemsTable | None
    actions: ActionsTable
    action_interactions: ActionInteractions | None
    users: UsersTable | None


def tables_from_rows(
    interactions: Sequence[Mapping[str, Any]],
    actions: Sequence[Mapping[str, Any]],
    action_interactions: Sequence[Mapping[str, Any]],
    items: Sequence[Mapping[str, Any]] = (),
    users: Sequence[Mapping[str, Any]] = (),
    categorical: frozenset[str] = frozenset({"CATEGORY", "SEGMENT"}),
) -> NbaTables:
    """Row dicts (bulk CSV rows) as columnar tables; ``categorical``: the Items / Users fields that are."""

    def col(rows: Sequence[Mapping[str, Any]], name: str) -> npt.NDArray[Any]:
        return np.array([r.get(name) for r in rows], dtype=object)

    def ts(rows: Sequence[Mapping[str, Any]]) -> npt.NDArray[np.int64]:
        return np.array([int(r["TIMESTAMP"]) for r in rows], dtype=np.int64)

    def others(rows: Sequence[Mapping[str, Any]], key: str) -> dict[str, npt.NDArray[Any]]:
        return {k: col(rows, k) for k in (rows[0] if rows else {}) if k != key}

    return NbaTables(
        Interactions(
            col(interactions, "USER_ID"),
            col(interactions, "ITEM_ID"),
            ts(interactions),
            col(interactions, "EVENT_TYPE"),
        ),
        ItemsTable(col(items, "ITEM_ID"), others(items, "ITEM_ID"), categorical) if items else None,
        ActionsTable(col(actions, "ACTION_ID"), others(actions, "ACTION_ID")),
        ActionInteractions(
            col(action_interactions, "USER_ID"),
            col(action_interactions, "ACTION_ID"),
            ts(action_interactions),
            col(action_interactions, "EVENT_TYPE"),
        )
        if action_interactions
        else None,
        UsersTable(col(users, "USER_ID"), others(users, "USER_ID"), categorical) if users else None,
    )
