"""Personalize's offline-evaluation protocol (L10939-L10950) and a scorer-agnostic evaluator.

90 % of users (with all their data) train the model; for each of the other 10 %, the oldest 90 % of their
interactions are the request's input and the newest 10 % are the relevant items. The same carving, applied
to the training users, gives the validation split used for early stopping and hyperparameter choice, so
test users never influence a model choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tailor_trainer.domain.data import IntArray, PreparedData, subset_users
from tailor_trainer.domain.metrics import MAX_K, evaluate_top

TEST_FRACTION: Final = 0.1
INPUT_FRACTION: Final = 0.9

#: scores[b, n_items] for a batch of input histories (oldest first).
Scorer = Callable[[Sequence[IntArray]], npt.NDArray[np.float32]]


@dataclass(frozen=True)
class EvalSet:
    """Test (or validation) requests: each user's input history and the relevant (held-out) items."""

    inputs: list[IntArray]
    relevant: list[IntArray]
    n_catalogue: int
    user_ids: npt.NDArray[Any]  # each request's external user id (the Users dataset's row for it)

    def __len__(self) -> int:
        return len(self.inputs)


@dataclass(frozen=True)
class Split:
    train: PreparedData
    test: EvalSet
    train_users: IntArray
    test_users: IntArray


def split_users(data: PreparedData, seed: int, fraction: float = TEST_FRACTION) -> tuple[IntArray, IntArray]:
    """Random user-level split; held-out users are drawn among users with >= 2 interactions (else no input)."""
    rng = np.random.default_rng(seed)
    lengths = np.diff(data.user_ptr)
    eligible = np.flatnonzero(lengths >= 2)
    n_test = max(1, round(fraction * data.n_users))
    n_test = min(n_test, max(len(eligible) - 1, 1))
    test = np.sort(rng.choice(eligible, size=n_test, replace=False)).astype(np.int64)
    train = np.setdiff1d(np.arange(data.n_users, dtype=np.int64), test)
    return train, test


def holdout(sequence: IntArray) -> tuple[IntArray, IntArray]:
    """Oldest 90 % as input (at least one item), newest 10 % as relevant items (at least one)."""
    n = len(sequence)
    n_in = min(max((9 * n) // 10, 1), n - 1)
    return sequence[:n_in], sequence[n_in:]


def make_eval_set(data: PreparedData, users: IntArray, exclude_seen: bool) -> EvalSet:
    inputs: list[IntArray] = []
    relevant: list[IntArray] = []
    kept: list[int] = []
    for u in users.tolist():
        seq = data.item[data.user_ptr[u] : data.user_ptr[u + 1]]
        if len(seq) < 2:
            continue
        x, y = holdout(seq)
        rel = np.unique(y)
        if exclude_seen:
            rel = np.setdiff1d(rel, x)
        if len(rel) == 0:
            continue
        inputs.append(x)
        relevant.append(rel)
        kept.append(u)
    return EvalSet(inputs, relevant, data.n_items, data.user_ids[np.asarray(kept, dtype=np.int64)])


def split(data: PreparedData, seed: int, exclude_seen: bool) -> Split:
    train_users, test_users = split_users(data, seed)
    return Split(
        subset_users(data, train_users), make_eval_set(data, test_users, exclude_seen), train_users, test_users
    )


def top_k(scores: npt.NDArray[np.float32], k: int) -> npt.NDArray[np.int64]:
    """Indices of the k highest scores per row, best first (ties: lower index first); -inf rows pad with -1."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    top = np.take_along_axis(part, order, axis=1).astype(np.int64)
    top_vals = np.take_along_axis(vals, order, axis=1)
    top[~np.isfinite(top_vals) & (top_vals < 0)] = -1
    return top


def recommend(
    scorer: Scorer, inputs: Sequence[IntArray], exclude_seen: bool, k: int = MAX_K, batch: int = 256
) -> npt.NDArray[np.int64]:
    out: list[npt.NDArray[np.int64]] = []
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        scores = np.array(scorer(chunk), dtype=np.float32, copy=True)
        if exclude_seen:
            for r, x in enumerate(chunk):
                scores[r, x] = -np.inf
        out.append(top_k(scores, k))
    return np.concatenate(out) if out else np.zeros((0, k), dtype=np.int64)


def evaluate_scores(scores: npt.NDArray[np.float32], eval_set: EvalSet, exclude_seen: bool) -> dict[str, float]:
    """Metrics for precomputed scores (one row per request of ``eval_set``)."""
    scores = np.array(scores, dtype=np.float32, copy=True)
    if exclude_seen:
        for r, x in enumerate(eval_set.inputs):
            scores[r, x] = -np.inf
    return evaluate_top(top_k(scores, MAX_K), eval_set.relevant, eval_set.n_catalogue)


def evaluate(scorer: Scorer, eval_set: EvalSet, exclude_seen: bool) -> dict[str, float]:
    top = recommend(scorer, eval_set.inputs, exclude_seen)
    return evaluate_top(top, eval_set.relevant, eval_set.n_catalogue)


def repeat_share(data: PreparedData) -> float:
    """Share of interactions that repeat an item the user already had: near 0 means items are consumed once."""
    if len(data.item) == 0:
        return 0.0
    pairs = data.user * np.int64(data.n_items) + data.item
    return 1.0 - len(np.unique(pairs)) / len(pairs)
