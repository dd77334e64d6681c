"""The ranking's steps right after a real ONNX call, in process (issue 20 point 2, ADR 0019 §10, §12).

    uv run python bench/ranking_after_onnx.py                                  # this checkout's ranking
    git show <rev>:shared/src/tailor_shared/scoring/ranking.py > /tmp/ranking_before.py
    uv run python bench/ranking_after_onnx.py --baseline /tmp/ranking_before.py  # side by side with <rev>'s

``bench/runtime_filter_cost.py``'s model (UP-v2, 10,000 items), users and requests: the plain, filter and
filter + promotion requests' arguments to ``ranking.recommend`` as ``answer.recommendations`` builds them, plus
the plain request with 10 excluded items. Every timed call runs right after that user's real ONNX call (the run
evicts the caches, so each numpy step costs about twice what it costs in a loop of its own: §10). Steps:
``recommend`` (whole), ``partition`` (the softmax's partition function), ``top`` (the 25 best allowed items),
``recommend, no exploration`` and ``recommend, no scores shown``. With ``--baseline``, the same cells run on a
ranking module loaded from that file, interleaved with this checkout's (round r runs every cell in turn, the
order reversed every other round), after checking that both give the same items and scores (1e-12 relative).
Thread CPU time (``time.thread_time``) per call; a row gives the median over rounds of each round's median and
the minimum over all calls.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the runtime process sets it (tailor_runtime/__init__.py)

import argparse
import importlib.util
import statistics
import sys
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np
from runtime_filter_cost import serve, world, world_parser

from tailor_shared.scoring import answer, ranking
from tailor_shared.scoring.masks import Allowed

Call = tuple[list[int], Any, int, dict[str, Any]]  # history positions, mask, numResults, keyword arguments
STEPS = ("recommend", "partition", "top", "recommend, no exploration", "recommend, no scores shown")


def captured_calls(args: argparse.Namespace) -> tuple[Callable[[list[int]], Any], dict[str, list[Call]]]:
    """The model's scoring function and each request kind's ``recommend`` arguments, as the request path builds
    them (``answer.recommendations`` run once per request with ``recommend`` recorded)."""
    model, index, requests, _ = world(args)
    seen: list[tuple[Any, int, dict[str, Any]]] = []
    namespace = vars(answer)  # ``answer`` calls ``recommend`` by this name
    real: Callable[..., list[ranking.Ranked]] = namespace["recommend"]

    def record(scores: Any, mask: Any, num_results: int, **kw: Any) -> list[ranking.Ranked]:
        seen.append((mask, num_results, kw))
        return real(scores, mask, num_results, **kw)

    namespace["recommend"] = record
    calls: dict[str, list[Call]] = {}
    try:
        for kind, reqs in requests.items():
            calls[kind] = []
            for r in reqs[: args.requests]:
                seen.clear()
                serve(model, index, r)
                calls[kind].append((answer.history(model, index, r[0], r[1]), *seen[0]))
    finally:
        namespace["recommend"] = real
    rng = np.random.default_rng(1)
    calls["plain, 10 excluded"] = [
        (past, Allowed(len(index), [int(i) for i in rng.choice(len(index), 10, replace=False)]), n, kw)
        for past, _, n, kw in calls["plain"]
    ]
    return model.score_history, calls


def step(module: types.ModuleType, name: str, scores: Any, call: Call) -> object:
    _, mask, n, kw = call
    if name == "partition":
        return module._partition(scores)
    if name == "top":
        return module.top_indices(scores, mask, n)
    if name == "recommend, no exploration":
        kw = {**kw, "exploration": None}
    elif name == "recommend, no scores shown":
        kw = {**kw, "normalise": False}
    return module.recommend(scores, mask, n, **kw)


def check_same(score: Callable[[list[int]], Any], calls: dict[str, list[Call]], base: types.ModuleType) -> int:
    """How many answers differ between ``base`` and this checkout (items, reasons, promotions; scores 1e-12)."""
    differing = 0
    for kind_calls in calls.values():
        for call in kind_calls:
            scores = score(call[0])
            a, b = (m.recommend(scores, call[1], call[2], **call[3]) for m in (base, ranking))
            same = [(x.index, x.reasons, x.promotion_name) for x in a] == [
                (x.index, x.reasons, x.promotion_name) for x in b
            ]
            close = all(
                (x.score is None) == (y.score is None)
                and (x.score is None or y.score is None or abs(x.score - y.score) <= 1e-12 * abs(x.score))
                for x, y in zip(a, b, strict=False)
            )
            differing += not (same and close)
    return differing


def main() -> None:
    parser = world_parser(__doc__)
    parser.add_argument("--requests", type=int, default=200, help="requests per kind and round")
    parser.add_argument("--baseline", default="", help="a ranking.py to compare with, side by side")
    args = parser.parse_args()
    score, calls = captured_calls(args)
    modules = {"this checkout": ranking}
    if args.baseline:
        spec = importlib.util.spec_from_file_location("ranking_baseline", args.baseline)
        assert spec is not None and spec.loader is not None
        base = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = base  # dataclasses look their module up while the file runs
        spec.loader.exec_module(base)
        modules = {"baseline": base, "this checkout": ranking}
        print(f"answers differing from the baseline: {check_same(score, calls, base)}")
    cells = [
        (kind, name, label)
        for kind in calls
        for name in STEPS
        if kind.startswith("plain") or name == "recommend"
        for label in modules
    ]

    def run(kind: str, name: str, label: str) -> list[float]:
        out = []
        for call in calls[kind]:
            scores = score(call[0])  # the real ONNX call, untimed, right before the timed step
            started = time.thread_time()
            step(modules[label], name, scores, call)
            out.append(time.thread_time() - started)
        return out

    for cell in cells:  # warm-up
        run(*cell)
    samples: dict[tuple[str, str, str], list[list[float]]] = {cell: [] for cell in cells}
    for rnd in range(args.rounds):
        for cell in cells if rnd % 2 == 0 else cells[::-1]:
            samples[cell].append(run(*cell))
    print(
        f"\nIn process, {args.items:,} items, {args.rounds} rounds x {args.requests} requests per kind, thread CPU "
        f"µs per call right after the user's ONNX call; load average {os.getloadavg()[0]:.1f}\n"
    )
    labels = list(modules)
    print("| request | step | " + " | ".join(f"{x} p50 | {x} min" for x in labels) + " |")
    print("|---|---|" + "---:|---:|" * len(labels))
    for kind in calls:
        for name in STEPS:
            if (kind, name, labels[0]) not in samples:
                continue
            row = []
            for label in labels:
                rounds = samples[(kind, name, label)]
                row.append(f"{statistics.median(statistics.median(r) for r in rounds) * 1e6:.1f}")
                row.append(f"{min(min(r) for r in rounds) * 1e6:.1f}")
            print(f"| {kind} | {name} | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
