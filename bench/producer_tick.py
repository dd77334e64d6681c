"""What the shared producer's idle tick costs (P2 point 5, ADR 0030 §14): one idle ``tailor_shared.kafka.Producer``
per process, connected to a broker of the benchmark's own (``localstack`` on free ports; or ``--bootstrap``), its
report loop started and nothing sent; process CPU (all threads) and the main thread's CPU and voluntary wake-ups
over ``--seconds``. The two ticks run side by side, ``--repeats`` times.

    uv run python bench/producer_tick.py                      # 0.2 s (IDLE_POLL_S) vs 2 s (BACKGROUND_IDLE_POLL_S)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import harness

from tailor_shared.kafka import BACKGROUND_IDLE_POLL_S, IDLE_POLL_S, Producer
from tailor_tools import localstack


def _main_thread(tid: int) -> tuple[float, int]:
    """CPU seconds and voluntary context switches of one thread of this process."""
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    with open(f"/proc/self/task/{tid}/status") as f:
        line = next(x for x in f if x.startswith("voluntary_ctxt_switches"))
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), int(line.split()[1])


async def _measure(bootstrap: str, tick: float, seconds: float) -> dict[str, float]:
    producer = Producer(bootstrap, idle_poll_s=tick)
    try:
        producer.check_available()  # starts the report loop
        await asyncio.sleep(5)  # connected and settled
        tid = threading.get_native_id()
        cpu0, (main0, woke0), t0 = time.process_time(), _main_thread(tid), time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, (main1, woke1), t1 = time.process_time(), _main_thread(tid), time.monotonic()
    finally:
        producer.close(timeout=1)
    elapsed = t1 - t0
    return {
        "process_pct": 100 * (cpu1 - cpu0) / elapsed,
        "main_pct": 100 * (main1 - main0) / elapsed,
        "wakeups_per_s": (woke1 - woke0) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="a running broker (default: start one of the benchmark's own)")
    parser.add_argument("--seconds", type=float, default=40.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(asyncio.run(_measure(args.bootstrap, args.child, args.seconds))))
        return
    if args.bootstrap is not None:
        _compare(args.bootstrap, args.seconds, args.repeats)
        return
    workdir = Path(tempfile.mkdtemp(prefix="tailor-tick-"))
    cfg = harness.private_stack(workdir)
    try:
        localstack.up(cfg)
        _compare(cfg.kafka_bootstrap, args.seconds, args.repeats)
    finally:
        localstack.down(cfg)
        shutil.rmtree(workdir, ignore_errors=True)


def _compare(bootstrap: str, seconds: float, repeats: int) -> None:
    ticks = (IDLE_POLL_S, BACKGROUND_IDLE_POLL_S)
    runs: dict[float, list[dict[str, float]]] = {t: [] for t in ticks}
    for _ in range(repeats):
        procs = {
            t: subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(t),
                    "--seconds",
                    str(seconds),
                    "--bootstrap",
                    bootstrap,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
            for t in ticks
        }
        for t, proc in procs.items():
            out, _ = proc.communicate()
            runs[t].append(json.loads(out.strip().splitlines()[-1]))
    print(
        "idle tick | process % of a core, median (runs) | main thread % | main-thread wake-ups/s"
        f"  (load average {os.getloadavg()[0]:.1f})"
    )
    for t in ticks:
        cols = []
        for key in ("process_pct", "main_pct", "wakeups_per_s"):
            values = [r[key] for r in runs[t]]
            cols.append(f"{statistics.median(values):.3f} ({' / '.join(f'{v:.3f}' for v in values)})")
        print(f"{t:>7g} s | " + " | ".join(cols))


if __name__ == "__main__":
    main()
