"""How long the runtime's event loop waits while the impressions writer drains a batch (issue 20 point 2, ADR 0019 §15).

    uv run python bench/impressions_stall.py
    uv run python bench/impressions_stall.py --rate 1600 --rounds 5

The writer (``tailor_runtime.adapters.Impressions``) encodes and produces a batch every ``BATCH_S`` on a thread of
its own, holding the GIL while it does; a request's thread (the event loop) cannot run meanwhile, with every request
in flight. Here the main thread stands for the loop: a busy loop that queues ``--rate`` records per second (the
runtime's impression record for 25 items) and notes every gap between its iterations. Per chunk size
(``DRAIN_CHUNK``: records produced per hold of the GIL; ``whole`` = one chunk per batch, the code before ADR 0019
§15), interleaved over ``--rounds`` (the order reversed every other round): the longest gap, the 99.99th percentile
and how many gaps exceed 1 ms, medians over rounds. A gap without the writer (``none``: no records queued) is the
machine's own scheduling noise. No broker is needed: librdkafka queues the records while it finds none.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time

from tailor_runtime.adapters import Impressions

CHUNKS = ("none", "whole", "64", "16")
BODY = {
    "recommendationId": "RID-3f2a6b1c-1234-4abc-8def-0123456789ab",
    "campaignArn": "arn:aws:personalize:us-east-1:000000000000:campaign/bench-campaign",
    "solutionVersionArn": "arn:aws:personalize:us-east-1:000000000000:solution/bench/abcdef12",
    "userId": "user-00042",
    "itemList": [f"item-{i:05d}" for i in range(25)],
    "timestamp": 1796558039.441,
}


def loop_gaps(chunk: str, seconds: float, rate: float) -> list[float]:
    """The main thread's gaps between iterations while it queues ``rate`` records a second (none for ``none``)."""
    if chunk != "none":
        Impressions.DRAIN_CHUNK = 10**9 if chunk == "whole" else int(chunk)
    writer = Impressions("127.0.0.1:1", "bench-impressions-stall")  # no broker: records wait in librdkafka's queue
    gaps: list[float] = []
    sent = 0
    started = last = time.perf_counter()
    try:
        while (now := time.perf_counter()) < started + seconds:
            gaps.append(now - last)
            last = now
            if chunk != "none" and sent < (now - started) * rate:
                writer.send(f"RID-{sent}", BODY)
                sent += 1
            for _ in range(200):  # a request's Python work between two looks at the clock
                pass
    finally:
        writer.close(timeout=0.1)  # nothing to deliver to: the queued records are dropped
    return gaps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="per chunk size and round")
    parser.add_argument("--rate", type=float, default=800.0, help="records queued per second (requests/s)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.CRITICAL)
    rows: dict[str, list[tuple[float, float, int]]] = {c: [] for c in CHUNKS}
    for r in range(args.rounds):
        for chunk in CHUNKS if r % 2 == 0 else CHUNKS[::-1]:
            gaps = sorted(loop_gaps(chunk, args.seconds, args.rate))
            rows[chunk].append((gaps[-1], gaps[int(len(gaps) * 0.9999)], sum(g > 1e-3 for g in gaps)))
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    batch = int(args.rate * Impressions.BATCH_S)
    print(
        f"\nThe event loop's gaps while the impressions writer drains ~{batch} records every {Impressions.BATCH_S} s"
        f" ({args.rate:.0f} records/s, {args.seconds:.0f} s per cell, median of {args.rounds} interleaved rounds)\n"
    )
    print("| records per hold of the GIL | longest gap ms | p99.99 gap ms | gaps > 1 ms |")
    print("|---|---:|---:|---:|")
    for chunk in CHUNKS:
        cells = rows[chunk]
        label = {"none": "no writer (the machine's noise)", "whole": "whole batch (before)"}.get(chunk, chunk)
        print(
            f"| {label} | {statistics.median(c[0] for c in cells) * 1e3:.2f} "
            f"| {statistics.median(c[1] for c in cells) * 1e3:.3f} | {statistics.median(c[2] for c in cells):.0f} |"
        )


if __name__ == "__main__":
    main()
