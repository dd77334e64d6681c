"""What scoring concurrent requests' users in one ONNX run would save (issue 20 point 2, ADR 0019 §14).

    uv run python bench/onnx_batching.py

``bench/runtime_filter_cost.py``'s model (UP-v2, 10,000 items, cached under ``.tailor/bench-cache/``) and its
300 users' histories as the request path builds them. Per batch size B: B users scored by one
``LoadedModel.score_histories`` run (B = 1: ``score_history``, the request path's call today), the thread's CPU
time (``time.thread_time``) divided by B. Batch sizes are interleaved (round r runs every size in turn, the order
reversed every other round); a row gives the median over rounds of each round's median per user, and the minimum.
The runtime's event loop scores one user per request: a batch is what it could gather from the requests whose
Redis reads complete in the same loop iteration.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the runtime process sets it (tailor_runtime/__init__.py)

import statistics
import time

from runtime_filter_cost import world, world_parser

from tailor_shared.scoring import answer

SIZES = (1, 2, 4, 8, 16)


def main() -> None:
    parser = world_parser(__doc__)
    parser.add_argument("--calls", type=int, default=100, help="ONNX runs per batch size and round")
    args = parser.parse_args()
    print("loading (or training) the benchmark's model ...", flush=True)
    model, index, requests, _ = world(args)
    histories = [answer.history(model, index, user, state) for user, state, _, _ in requests["plain"]]
    for h in histories[:20]:  # warm-up
        model.score_history(h)
    per_user: dict[int, list[list[float]]] = {b: [] for b in SIZES}
    for r in range(args.rounds):
        for b in SIZES if r % 2 == 0 else SIZES[::-1]:
            times = []
            for call in range(args.calls):
                start = (call * b) % (len(histories) - b)
                batch = histories[start : start + b]
                started = time.thread_time()
                if b == 1:
                    model.score_history(batch[0])
                else:
                    model.score_histories(batch)
                times.append((time.thread_time() - started) * 1e6 / b)
            per_user[b].append(times)
        print(f"  round {r + 1}/{args.rounds}, load average {os.getloadavg()[0]:.1f}", flush=True)
    print(f"\nONNX CPU per user, {len(index):,} items, {args.rounds} rounds x {args.calls} runs per batch size\n")
    print("| users per run | µs per user, median | min | saved against 1 |")
    print("|---:|---:|---:|---:|")
    one = statistics.median(statistics.median(t) for t in per_user[1])
    for b in SIZES:
        med = statistics.median(statistics.median(t) for t in per_user[b])
        low = min(min(t) for t in per_user[b])
        print(f"| {b} | {med:.1f} | {low:.1f} | {one - med:.1f} |")


if __name__ == "__main__":
    main()
