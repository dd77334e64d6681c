"""Impressions in User-Personalization training (M2, ADR 0022 §15): the effect of training the shown-but-not-chosen
items as negatives, on synthetic data whose exposure is known.

Data: ``--items`` items in 10 categories with a Zipf popularity; each user likes 2 categories and chooses only
among their items (by popularity). Every event was shown with ``--shown`` items: the chosen one plus items drawn
from the whole catalogue's popularity (a "popular" feed), which the user passed over. Each user's last event is
held out. The same data trains User-Personalization twice per run (the full trainer: split, validation, hybrid
with the linear part), without impressions and with them, same seed, and both models score the held-out users
from their remaining history (seen items excluded). Reported per run, side by side:

* ``passed-over@10``: the share of the top 10 that the user had been shown and had not chosen (L5291: "items
  70, 17, 95, and 96 will be less frequently recommended to user USER_1");
* ``NDCG@10`` and ``hit@10`` of the held-out item.

    uv run python bench/impression_training.py [--runs 3] [--first-seed 0] [--users 600] [--items 300]
                                               [--length 8] [--shown 10]

Pure CPU (no stack).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

from tailor_trainer.domain import Interactions, train_solution_version

UP = "arn:aws:personalize:::recipe/aws-user-personalization"
CONFIG = {"algorithmHyperParameters": {"hidden_dimension": "64"}}


def _objects(values: list[Any]) -> np.ndarray[Any, Any]:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def synthetic(users: int, items: int, length: int, shown: int, seed: int) -> tuple[Interactions, dict[str, Any]]:
    """Interactions with impressions; the held-out last event and each user's passed-over items on the side."""
    rng = np.random.default_rng(seed)
    category = np.arange(items) % 10
    popularity = 1.0 / np.arange(1, items + 1) ** 0.9
    rng.shuffle(popularity)
    feed = popularity / popularity.sum()
    rows: tuple[list[str], list[str], list[int], list[list[str]]] = ([], [], [], [])
    held: dict[str, str] = {}
    passed: dict[str, set[str]] = {}
    for u in range(users):
        liked = rng.choice(10, size=2, replace=False)
        pool = np.flatnonzero(np.isin(category, liked))
        p = popularity[pool] / popularity[pool].sum()
        n = max(3, int(rng.poisson(length)))
        chosen = rng.choice(pool, size=n, replace=False, p=p)
        user = f"u{u}"
        passed[user] = set()
        for k, item in enumerate(chosen.tolist()):
            if k == n - 1:
                held[user] = f"i{item}"
                break
            others = rng.choice(items, size=shown - 1, replace=False, p=feed)
            impression = [f"i{item}"] + [f"i{o}" for o in others.tolist() if o != item]
            passed[user].update(impression[1:])
            rows[0].append(user)
            rows[1].append(f"i{item}")
            rows[2].append(1_700_000_000 + u * 10_000 + k)
            rows[3].append(impression)
    inter = Interactions(
        _objects(rows[0]), _objects(rows[1]), np.asarray(rows[2], dtype=np.int64), impression=_objects(rows[3])
    )
    for user, items_seen in passed.items():
        items_seen.difference_update(rows[1][i] for i, u in enumerate(rows[0]) if u == user)
    return inter, {"held": held, "passed": passed}


def evaluate(model: Any, inter: Interactions, truth: dict[str, Any]) -> dict[str, float]:
    position = {str(v): k for k, v in enumerate(model.item_ids.tolist())}
    users = sorted(truth["held"])
    history: dict[str, list[int]] = {u: [] for u in users}
    for user, item in zip(inter.user_id.tolist(), inter.item_id.tolist(), strict=True):
        history[user].append(position[item])
    scores = model.scorer()([np.asarray(history[u], dtype=np.int64) for u in users])
    ndcg = hit = passed = 0.0
    for row, user in enumerate(users):
        s = scores[row].copy()
        s[history[user]] = -np.inf
        top = [str(model.item_ids[i]) for i in np.argsort(-s, kind="stable")[:10]]
        if truth["held"][user] in top:
            hit += 1
            ndcg += 1.0 / np.log2(top.index(truth["held"][user]) + 2)
        passed += sum(t in truth["passed"][user] for t in top) / 10
    n = len(users)
    return {"passed-over@10": passed / n, "NDCG@10": ndcg / n, "hit@10": hit / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="data and training seed of the first run")
    parser.add_argument("--users", type=int, default=600)
    parser.add_argument("--items", type=int, default=300)
    parser.add_argument("--length", type=int, default=8)
    parser.add_argument("--shown", type=int, default=10)
    args = parser.parse_args()
    print(f"load (uptime): {os.getloadavg()}")
    results: dict[str, list[dict[str, float]]] = {"without impressions": [], "with impressions": []}
    for run in range(args.first_seed, args.first_seed + args.runs):
        inter, truth = synthetic(args.users, args.items, args.length, args.shown, seed=run)
        for name, data in (("without impressions", _without(inter)), ("with impressions", inter)):
            started = time.monotonic()
            model = train_solution_version(UP, data, None, None, CONFIG, False, "FULL", None, None, run)
            metrics = evaluate(model, inter, truth)
            results[name].append(metrics)
            print(
                f"run {run} {name:>20}: "
                + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items())
                + f"  (beta {model.beta}, {time.monotonic() - started:.0f} s)",
                flush=True,
            )
    print(f"\nmedians over {args.runs} runs ({args.users} users, {args.items} items, {args.shown} shown per event):")
    for name, runs in results.items():
        print(f"  {name:>20}: " + "  ".join(f"{k} {statistics.median(r[k] for r in runs):.4f}" for k in runs[0]))


def _without(inter: Interactions) -> Interactions:
    return Interactions(inter.user_id, inter.item_id, inter.timestamp)


if __name__ == "__main__":
    main()
