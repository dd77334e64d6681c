"""USER_SEGMENTATION recipes: Item-Affinity and Item-Attribute-Affinity (recipes.md §10; L6867-L6947).

Both train the same user -> item model as User-Personalization (the sequence + item-item hybrid, width
``hidden_dimension``); a segment is then the users ranked by the probability the model gives to the query's
items (``tailor_shared.scoring.segments``, which the batch segment worker uses too). The model directory
carries every training user's recent items, so a batch segment job scores exactly the users (and the data)
of the last full training (L13190).

Evaluation follows the guide for USER_SEGMENTATION (recipes.md §12.1-12.2): each user's oldest 80 % of
interactions train, the newest 20 % test. For each query (an item; for Item-Attribute-Affinity an item
attribute value) the test's actual users are those who interacted with its items in their 20 %;
K = the top 1 % of users (at least one). ``hits_at_1_percent``: the mean number of actual users among the top
K; ``recall_at_1_percent``: the mean share of the actual users found there; ``coverage``: the share of users
in at least one top-K segment. Pure compute: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, Final

import numpy as np
import torch

from tailor_shared.scoring.segments import TopUsers, probabilities, query_values
from tailor_trainer.domain import hyperparams as hp
from tailor_trainer.domain import train as base
from tailor_trainer.domain.data import DataRuleViolation, IntArray, Interactions, ItemsTable, PreparedData, prepare
from tailor_trainer.domain.evaluation import Scorer
from tailor_trainer.domain.sequential import train_hybrid
from tailor_trainer.domain.train import (
    Progress,
    TrainedModel,
    TrainingStopped,
    _common,
    _emit,
    validation_split,
)

TRAIN_SHARE: Final = 0.8  # "80% of each user's" interactions train, 20 % test (L10941)
TOP_SHARE: Final = 0.01  # K = the top 1 % of the most relevant users
SCORE_CHUNK: Final = 512  # users scored per model run
METRIC_NAMES: Final = ("coverage", "hits_at_1_percent", "recall_at_1_percent")


def per_user_split(data: PreparedData, share: float = TRAIN_SHARE) -> tuple[PreparedData, list[IntArray]]:
    """Each user's oldest ``share`` of interactions (at least one) as training data; the rest, per user, as
    the test items (empty for a user with one interaction)."""
    keep = np.zeros(len(data.item), dtype=bool)
    test: list[IntArray] = []
    for u in range(data.n_users):
        start, end = int(data.user_ptr[u]), int(data.user_ptr[u + 1])
        n_train = max(1, math.floor(share * (end - start))) if end - start > 1 else end - start
        keep[start : start + n_train] = True
        test.append(data.item[start + n_train : end])
    lengths = np.asarray([int(data.user_ptr[u + 1] - data.user_ptr[u]) - len(test[u]) for u in range(data.n_users)])
    ptr = np.zeros(data.n_users + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(lengths)
    train = PreparedData(
        data.user_ids,
        data.item_ids,
        data.user[keep],
        data.item[keep],
        data.timestamp[keep],
        ptr,
        data.item_creation,
        data.item_is_new,
        data.features,
        data.filter_summary,
    )
    return train, test


def attribute_queries(data: PreparedData) -> tuple[list[str], list[IntArray]]:
    """Item-Attribute-Affinity's evaluation queries: every categorical ``COLUMN=value`` token of the items and
    the items that have it. The guide requires at least one non-textual metadata column (L6926)."""
    features = data.features
    if features is None or not features.token_names:
        raise DataRuleViolation(
            "Item-Attribute-Affinity needs an Items dataset with at least one non-textual, non-reserved "
            "categorical metadata column."
        )
    owners = np.repeat(np.arange(data.n_items, dtype=np.int64), np.diff(features.token_ptr))
    queries = [owners[features.token_idx == t] for t in range(features.n_tokens)]
    return list(features.token_names), queries


def segment_metrics(
    scorer: Scorer, inputs: Sequence[IntArray], test: Sequence[IntArray], queries: Sequence[IntArray]
) -> dict[str, float]:
    """The guide's USER_SEGMENTATION metrics for users' ``inputs`` (training histories) and ``test`` items."""
    n_users = len(inputs)
    k = max(1, math.ceil(TOP_SHARE * n_users))
    top = TopUsers(len(queries), k)
    for start in range(0, n_users, SCORE_CHUNK):
        rows = np.arange(start, min(start + SCORE_CHUNK, n_users), dtype=np.int64)
        scores = scorer([inputs[r] for r in rows.tolist()])
        top.add(query_values(probabilities(scores), queries), rows)
    segments = top.result()
    item_to_queries: dict[int, list[int]] = {}
    for q, items in enumerate(queries):
        for i in items.tolist():
            item_to_queries.setdefault(int(i), []).append(q)
    actual: list[set[int]] = [set() for _ in queries]
    for u, items in enumerate(test):
        for i in set(items.tolist()):
            for q in item_to_queries.get(int(i), ()):
                actual[q].add(u)
    hits: list[float] = []
    recall: list[float] = []
    covered: set[int] = set()
    for q, users in enumerate(actual):
        covered.update(segments[q].tolist())
        if not users:
            continue
        found = len(users.intersection(segments[q].tolist()))
        hits.append(float(found))
        recall.append(found / len(users))
    return {
        "coverage": len(covered) / n_users if n_users else 0.0,
        "hits_at_1_percent": float(np.mean(hits)) if hits else 0.0,
        "recall_at_1_percent": float(np.mean(recall)) if recall else 0.0,
    }


def popularity_scorer(train: PreparedData) -> Scorer:
    """The baseline: every user gets the items' training popularity (segments then follow user order)."""
    counts = np.bincount(train.item, minlength=train.n_items).astype(np.float32)
    logits = np.log(counts + 1.0)

    def score(inputs: Any) -> Any:
        return np.broadcast_to(logits, (len(inputs), len(logits))).copy()

    return score


def train_affinity(
    recipe_arn: str,
    recipe: str,
    interactions: Interactions,
    items: ItemsTable | None,
    solution_config: Mapping[str, Any],
    mode: str,
    progress: Progress | None,
    seed: int,
    should_stop: Callable[[], bool] | None,
) -> TrainedModel:
    """Train an Item-Affinity / Item-Attribute-Affinity solution version (FULL only: no UPDATE, no HPO)."""
    if recipe == hp.ITEM_ATTRIBUTE_AFFINITY and items is None:
        raise DataRuleViolation("Item-Attribute-Affinity needs an Items dataset in the dataset group.")
    values = hp.resolve(recipe, solution_config)
    data = prepare(interactions, items, solution_config)
    names, queries = (
        attribute_queries(data)
        if recipe == hp.ITEM_ATTRIBUTE_AFFINITY
        else ([], [np.asarray([i], dtype=np.int64) for i in range(data.n_items)])
    )
    torch.manual_seed(seed)
    train, test = per_user_split(data)
    exclude_seen = False  # a segment ranks users, not items: nothing of the user's own is left out
    model = _common(recipe_arn, recipe, mode, data, values, exclude_seen, seed)
    model.kind = "sequence"
    cfg = replace(base.V2_CONFIG, hidden=hp.as_int(values, "hidden_dimension"))
    vtrain, vset = validation_split(train, seed, exclude_seen)
    result = train_hybrid(
        vtrain,
        vset,
        cfg,
        seed,
        exclude_seen,
        progress=_emit(progress, "training", cfg.max_epochs, None),
        should_stop=should_stop,
    )
    if result.stopped:
        raise TrainingStopped("training was stopped")
    model.seq_config = result.config
    model.seq_model = result.model
    model.lin_idx, model.lin_val, model.beta = result.lin_idx, result.lin_val, result.beta
    model.history = result.history
    model.config = {
        "beta": result.beta,
        "validation": result.validation,
        "segmentQueries": len(queries),
    }
    inputs = train.sequences()
    model.metrics = segment_metrics(model.scorer(), inputs, test, queries)
    model.baselines = {hp.POPULARITY_COUNT: segment_metrics(popularity_scorer(train), inputs, test, queries)}
    model.data_summary["segmentEvaluationQueries"] = len(queries)
    if names:
        model.data_summary["attributeTokens"] = len(names)
    model.data_summary["trainingUsers"] = data.n_users
    return model
