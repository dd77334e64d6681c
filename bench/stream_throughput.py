"""Stream benchmark: events/s applied to Redis by one and by two workers, and freshness under steady load.

Loopback only (the local stack: ``uv run tailor local up``); bounded in time; prints a table.

* Throughput: a backlog of interactions is produced first (direct Kafka production with
  ``tailor_shared.records.encode_row``), then real worker processes (``python -m tailor_stream``) start and
  the time from their first applied batch to the last is measured. Worker and Redis CPU per event are
  reported too: unlike wall time, they don't depend on what else the machine is running.
* Freshness: one worker runs; events are produced at a steady rate, and for each one the time from the
  broker's acknowledgement (the producer's delivery report) to the event being readable in the user's
  Redis history is measured (polled every ~2 ms).

    uv run python bench/stream_throughput.py [--events 100000] [--rate 1000] [--seconds 15]

Items are popularity-skewed (Pareto) in the main runs; one run uses uniform items, the costlier case for
Redis (a batch touches more distinct popularity and trend counters).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as RawProducer

from tailor_shared import localstack
from tailor_shared import redis_keys as rk
from tailor_shared.kafka import OutgoingRecord
from tailor_shared.records import new_event_id
from tailor_stream import workload as wl
from tailor_stream.processor import close_redis
from tailor_stream.rebuild import wipe

EVENT_TYPES = ("click", "view", "purchase")


@dataclass
class Row:
    scenario: str
    events: int
    seconds: float
    rate: float
    worker_cpu_us: float
    redis_cpu_us: float


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


async def _redis_cpu(redis: aioredis.Redis[bytes]) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _worker(stack: localstack.StackConfig, prefix: str, workdir: Path, n: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_STREAM_PORT": str(_free_port()),
        "TAILOR_STREAM_DATA_DIR": str(workdir / f"stream-{n}"),
        "TAILOR_LOG_LEVEL": "WARNING",
    }
    log = (workdir / f"worker-{prefix}-{n}.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "tailor_stream"], env=env, stdout=log, stderr=subprocess.STDOUT)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _interactions(
    group: wl.DatasetGroup, n: int, now: int, uniform: bool, users: int = 10_000, items: int = 5_000
) -> list[OutgoingRecord]:
    """Interactions of 10,000 users with 5,000 items: popularity-skewed (Pareto) or uniform. Uniform is the
    costlier case for Redis: a batch touches more distinct popularity and trend counters."""
    rnd = random.Random(42)

    def item() -> str:
        return f"i{rnd.randrange(items)}" if uniform else f"i{int(rnd.paretovariate(1.1)) % items}"

    return [
        group.record(
            "Interactions",
            wl.interaction_row(f"u{rnd.randrange(users)}", item(), now - n + i, rnd.choice(EVENT_TYPES)),
            event_id=new_event_id(),
        )
        for i in range(n)
    ]


async def throughput(
    stack: localstack.StackConfig, workdir: Path, events: int, workers: int, deadline: float, uniform: bool
) -> Row:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    group = wl.DatasetGroup(prefix, "shop")
    group.create(stack.kafka_bootstrap)
    await asyncio.to_thread(wl.produce, stack.kafka_bootstrap, _interactions(group, events, int(time.time()), uniform))
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    stats = rk.Keys(prefix, "shop").stats()
    procs = [_worker(stack, prefix, workdir, n) for n in range(workers)]
    try:
        first_n, first_t, cpu0, rcpu0 = 0, 0.0, 0.0, 0.0
        done_n, done_t = 0, 0.0
        while time.monotonic() < deadline:
            n = int(await redis.hget(stats, "records") or 0)
            if n and not first_t:
                first_n, first_t = n, time.monotonic()
                cpu0, rcpu0 = sum(_proc_cpu(p.pid) for p in procs), await _redis_cpu(redis)
            if n >= events:
                done_n, done_t = n, time.monotonic()
                break
            if any(p.poll() is not None for p in procs):
                raise RuntimeError(f"a worker exited: see {workdir}")
            await asyncio.sleep(0.02)
        if not done_t:
            raise RuntimeError("throughput run did not finish in time")
        cpu1, rcpu1 = sum(_proc_cpu(p.pid) for p in procs), await _redis_cpu(redis)
        counted = done_n - first_n
        seconds = done_t - first_t
        return Row(
            f"throughput, {workers} worker{'s' if workers > 1 else ''}, {'uniform' if uniform else 'skewed'} items",
            counted,
            seconds,
            counted / seconds,
            1e6 * (cpu1 - cpu0) / counted,
            1e6 * (rcpu1 - rcpu0) / counted,
        )
    finally:
        _stop(procs)
        await wipe(redis, prefix)
        await close_redis(redis)


async def freshness(
    stack: localstack.StackConfig, workdir: Path, rate: int, seconds: float
) -> tuple[Row, dict[str, float]]:
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    group = wl.DatasetGroup(prefix, "shop")
    group.create(stack.kafka_bootstrap)
    redis: aioredis.Redis[bytes] = aioredis.Redis.from_url(stack.redis_url)
    keys = rk.Keys(prefix, "shop")
    procs = [_worker(stack, prefix, workdir, 0)]
    producer = RawProducer({"bootstrap.servers": stack.kafka_bootstrap, "enable.idempotence": True, "linger.ms": 0})
    acked: dict[int, float] = {}
    try:
        # Warm up: the worker is consuming once a first event shows up in Redis.
        probe = group.record(
            "Interactions", wl.interaction_row("warmup", "i0", int(time.time()), "click"), event_id="warmup"
        )
        producer.produce(probe.topic, probe.value, probe.key, headers=list(probe.headers))
        producer.flush(10)
        ready_by = time.monotonic() + 60
        while not await redis.exists(keys.history(rk.user_subject("warmup"))):
            if time.monotonic() > ready_by or procs[0].poll() is not None:
                raise RuntimeError(f"worker not ready: see {workdir}")
            await asyncio.sleep(0.05)

        rnd = random.Random(7)
        total = int(rate * seconds)
        targets: list[tuple[str, str]] = []  # (history key, member) per event
        visible: dict[int, float] = {}
        pending: set[int] = set()
        sent_at: list[float] = []

        def on_delivery(n: int) -> Callable[[KafkaError | None, Message], None]:
            def callback(err: KafkaError | None, _msg: Message) -> None:
                if err is None:
                    acked[n] = time.monotonic()

            return callback

        cpu0, rcpu0 = _proc_cpu(procs[0].pid), await _redis_cpu(redis)
        start = time.monotonic()
        next_check = start
        while len(visible) < total and time.monotonic() < start + seconds + 30:
            now = time.monotonic()
            due = min(total, int((now - start) * rate) + 1)
            while len(targets) < due:
                n = len(targets)
                user, token = f"u{rnd.randrange(1000)}", new_event_id()
                row = wl.interaction_row(user, f"i{rnd.randrange(5000)}", int(time.time()), "click")
                record = group.record("Interactions", row, event_id=token)
                producer.produce(
                    record.topic, record.value, record.key, headers=list(record.headers), on_delivery=on_delivery(n)
                )
                sent_at.append(time.monotonic())
                member = rk.history_member(rk.event_token(token), row["ITEM_ID"], "click", None)
                targets.append((keys.history(rk.user_subject(user)), member))
                pending.add(n)
            producer.poll(0)
            if now >= next_check and pending:
                next_check = now + 0.002
                order = sorted(pending)
                pipe = redis.pipeline(transaction=False)
                for n in order:
                    pipe.zscore(*targets[n])
                scores = await pipe.execute()
                seen = time.monotonic()
                for n, score in zip(order, scores, strict=True):
                    if score is not None:
                        visible[n] = seen
                        pending.discard(n)
            await asyncio.sleep(0.0005)
        producer.flush(10)
        cpu1, rcpu1 = _proc_cpu(procs[0].pid), await _redis_cpu(redis)
        from_ack = sorted(max(0.0, visible[n] - acked[n]) for n in visible if n in acked)
        from_send = sorted(visible[n] - sent_at[n] for n in visible)
        if not from_ack:
            raise RuntimeError("no event became visible")
        quantiles = {
            "p50_ack_ms": 1000 * _q(from_ack, 0.50),
            "p99_ack_ms": 1000 * _q(from_ack, 0.99),
            "max_ack_ms": 1000 * from_ack[-1],
            "p50_send_ms": 1000 * _q(from_send, 0.50),
            "p99_send_ms": 1000 * _q(from_send, 0.99),
            "lost": float(total - len(visible)),
        }
        span = max(visible.values()) - start
        row_out = Row(
            f"freshness, 1 worker @ {rate}/s",
            len(visible),
            span,
            len(visible) / span,
            1e6 * (cpu1 - cpu0) / max(1, len(visible)),
            1e6 * (rcpu1 - rcpu0) / max(1, len(visible)),
        )
        return row_out, quantiles
    finally:
        _stop(procs)
        await wipe(redis, prefix)
        await close_redis(redis)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(head[i]), *(len(r[i]) for r in rows)) for i in range(len(head))]
    print("| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))]
        print("| " + " | ".join(cells) + " |")


def _q(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))]


async def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000, help="backlog per throughput run")
    parser.add_argument("--rate", type=int, default=1000, help="events/s in the freshness run")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of the freshness run")
    parser.add_argument("--budget", type=float, default=240.0, help="stop after this many seconds in all")
    args = parser.parse_args(argv)
    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    workdir = Path(os.environ.get("TMPDIR", "/tmp")) / f"tailor-bench-{uuid.uuid4().hex[:6]}"
    workdir.mkdir(parents=True)
    deadline = time.monotonic() + args.budget
    load_before = os.getloadavg()
    rows = [
        await throughput(stack, workdir, args.events, 1, deadline, uniform=False),
        await throughput(stack, workdir, args.events, 1, deadline, uniform=True),
        await throughput(stack, workdir, args.events, 2, deadline, uniform=False),
    ]
    fresh_row, quantiles = await freshness(stack, workdir, args.rate, args.seconds)
    rows.append(fresh_row)
    load_after = os.getloadavg()

    print(f"\nstream benchmark ({os.cpu_count()} CPUs, load average {load_before[0]:.1f} -> {load_after[0]:.1f})")
    _table(
        ("scenario", "events", "seconds", "events/s", "worker CPU us/ev", "Redis CPU us/ev"),
        [
            (
                r.scenario,
                str(r.events),
                f"{r.seconds:.2f}",
                f"{r.rate:.0f}",
                f"{r.worker_cpu_us:.1f}",
                f"{r.redis_cpu_us:.1f}",
            )
            for r in rows
        ],
    )
    print("\nfreshness (produce acknowledged -> visible in the user's Redis history):")
    names = ("p50_ack_ms", "p99_ack_ms", "max_ack_ms", "p50_send_ms", "p99_send_ms", "lost")
    _table(
        ("p50 ms", "p99 ms", "max ms", "p50 from send ms", "p99 from send ms", "not seen"),
        [tuple(f"{quantiles[n]:.1f}" if n != "lost" else f"{quantiles[n]:.0f}" for n in names)],
    )
    print("goals: >= 10,000 events/s per worker; freshness p99 <= 250 ms")


if __name__ == "__main__":
    asyncio.run(main())
