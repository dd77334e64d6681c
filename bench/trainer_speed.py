"""Epoch cost of the User-Personalization transformer on a large synthetic data set: before and after.

A synthetic set of ~1,000,000 interactions (20,000 users, 50,000 items in 50 categories, Zipf popularity inside
each category, users sticking to a few categories) is windowed exactly as training windows it. Then the same
optimiser step (``sequential.train_step``) is timed for each variant, interleaved round by round so that the
machine's load falls on all of them alike:

- ``full softmax (before)``: the loss over the whole catalogue, torch's default (non-deterministic) kernels;
- ``full softmax, deterministic``: the same with the deterministic kernels training now runs with;
- ``sampled softmax (after)``: what training does above ``full_softmax_items``: the batch's targets plus
  ``sampled_negatives`` uniform items, logQ-corrected, deterministic kernels.

An epoch is ``steps per epoch x median step``: a full epoch of the full softmax takes ~10 minutes on 2 quiet
cores, so the steps are sampled rather than all run. Wall and CPU seconds are both printed (CPU time is less
inflated by other load on a shared machine).

    uv run python bench/trainer_speed.py                     # 1,000,000 interactions, 3 rounds x 4 steps
    uv run python bench/trainer_speed.py --users 2000 --items 5000 --rounds 2 --steps 3   # a quick look
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
from harness import pct

from tailor_trainer.domain.data import Interactions, prepare
from tailor_trainer.domain.sequential import AdamW, SeqConfig, SequenceModel, make_sampler, train_step, training_windows
from tailor_trainer.domain.train import V2_CONFIG


def synthetic(users: int, items: int, mean_length: int, seed: int = 0) -> Interactions:
    """Users with 3 favourite categories, sessions within a category, Zipf popularity inside each category."""
    rng = np.random.default_rng(seed)
    categories = 50
    per_category = items // categories
    lengths = np.maximum(2, rng.poisson(mean_length, users))
    user = np.repeat(np.arange(users), lengths)
    favourites = rng.integers(0, categories, (users, 3))
    # A session keeps its category for a geometric number of events.
    switch = rng.random(len(user)) < 0.3
    pick = rng.integers(0, 3, len(user))
    session = np.cumsum(switch | np.r_[True, user[1:] != user[:-1]])
    first = np.r_[0, np.flatnonzero(np.diff(session)) + 1]
    cat = favourites[user, pick][first][session - 1]
    rank = np.minimum(rng.zipf(1.3, len(user)) - 1, per_category - 1)
    item = cat * per_category + rank
    ts = 1_600_000_000 + np.arange(len(user), dtype=np.int64) * 7
    return Interactions(user.astype(str).astype(object), item.astype(str).astype(object), ts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--items", type=int, default=50000)
    parser.add_argument("--length", type=int, default=50, help="mean interactions per user")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=4, help="timed steps per variant and round")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.monotonic()
    inter = synthetic(args.users, args.items, args.length)
    data = prepare(inter, None, {}, check_rules=False)
    cfg: SeqConfig = V2_CONFIG
    n = data.n_items
    xs, ys = training_windows(data.sequences(), cfg.context, cfg.horizon, n)
    steps_per_epoch = math.ceil(len(xs) / cfg.batch)
    print(
        f"{len(inter):,} interactions, {data.n_users:,} users, {n:,} items; {len(xs):,} windows of {cfg.context}, "
        f"{steps_per_epoch} steps of {cfg.batch} per epoch; torch {torch.__version__}, {args.threads} threads "
        f"(data prepared in {time.monotonic() - started:.0f} s)"
    )
    variants = {
        "full softmax (before)": (replace(cfg, full_softmax_items=n), False),
        "full softmax, deterministic": (replace(cfg, full_softmax_items=n), True),
        "sampled softmax (after)": (cfg, True),
    }
    states = {}
    for name, (vcfg, _) in variants.items():
        torch.manual_seed(0)
        model = SequenceModel(n, vcfg, None).train()
        opt = AdamW(list(model.parameters()), lr=vcfg.lr, weight_decay=vcfg.weight_decay)
        states[name] = (model, opt, make_sampler(ys, n, vcfg, 0))
    rng = np.random.default_rng(0)
    wall: dict[str, list[float]] = {k: [] for k in variants}
    cpu: dict[str, list[float]] = {k: [] for k in variants}
    xt, yt = torch.from_numpy(xs), torch.from_numpy(ys)
    for _ in range(args.rounds):
        for name, (vcfg, det) in variants.items():
            model, opt, sampler = states[name]
            torch.use_deterministic_algorithms(det)
            for step in range(args.steps + 1):
                bi = torch.from_numpy(rng.choice(len(xs), cfg.batch, replace=False))
                w0, c0 = time.perf_counter(), time.process_time()
                train_step(model, opt, xt[bi], yt[bi], vcfg, sampler)
                if step > 0:  # the first step of a round warms caches after the other variants ran
                    wall[name].append(time.perf_counter() - w0)
                    cpu[name].append(time.process_time() - c0)
    torch.use_deterministic_algorithms(False)
    base = statistics.median(wall["full softmax (before)"])
    print()
    print("| variant | step wall p50 / p99 (s) | step CPU p50 (s) | epoch (steps x p50 wall) | per 100k | speed-up |")
    print("|---|---:|---:|---:|---:|---:|")
    for name in variants:
        p50 = statistics.median(wall[name])
        epoch = p50 * steps_per_epoch
        print(
            f"| {name} | {p50:.3f} / {pct(wall[name], 0.99):.3f} | {statistics.median(cpu[name]):.3f} | "
            f"{epoch:.0f} s | {epoch * 100_000 / len(inter):.1f} s | {base / p50:.2f}x |"
        )
    print(f"\n{args.rounds} rounds x {args.steps} timed steps per variant; total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
