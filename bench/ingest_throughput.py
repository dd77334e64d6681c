"""Ingest throughput on the local stack: PutEvents through gRPC vs a raw producer, and bulk import rows/s.

Prints a markdown table. Loopback only, bounded in time (``--seconds`` per level). Run it with the local
stack up (``uv run tailor local up``)::

    uv run python bench/ingest_throughput.py                 # 1 ingest process, concurrency 1/16/64
    uv run python bench/ingest_throughput.py --processes 2   # several ingest processes, client spreads calls

The gRPC rows measure acknowledged events: a call returns only after Kafka acknowledged all its events
(idempotent producer, acks=all). The raw rows run the same pattern (``--events`` records per "call",
``concurrency`` calls in flight, each awaiting its delivery reports) straight from confluent-kafka in this
process, plus an unbounded fire-and-flush run: the physical limit of this broker on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as RawProducer

from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor_ingest.adapters import TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_ingest.domain import dataset_target
from tailor_ingest.importer import Importer, ImportRequest
from tailor_shared.dataset_reader import read_dataset
from tailor_shared.kafka import ensure_topics, producer_config
from tailor_shared.resource_view import ResourceView
from tailor_shared.schemas import avro_record
from tailor_shared.topics import dataset_topic, topic_spec
from tailor_tools import identity, localstack, seed, workload
from tailor_tools.client import aio_channel, health_serving
from tailor_tools.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
RATINGS = ROOT.parent / "shared" / "datasets" / "ml-latest-small" / "ratings.csv"
RATINGS_SCHEMA = avro_record(
    "Interactions", "USER_ID", "ITEM_ID", {"name": "EVENT_VALUE", "type": ["null", "float"]}, "TIMESTAMP"
)
EVENTS_SCHEMA = workload.SCHEMAS["Interactions"]  # events with a type and a value, as the stream workload's


@dataclass
class Result:
    name: str
    concurrency: int
    events: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def closed_loop(
    concurrency: int, seconds: float, call: Callable[[int], Awaitable[int]]
) -> tuple[int, list[float]]:
    """``concurrency`` workers call back to back for ``seconds``; returns events and per-call latencies."""
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []
    counts = [0]

    async def worker(w: int) -> None:
        n = 0
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            done = await call(w * 1_000_000 + n)
            counts[0] += done
            latencies.append((time.perf_counter() - start) * 1000.0)
            n += 1

    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return counts[0], latencies


def make_request(tracking_id: str, n: int, events: int) -> events_pb2.PutEventsRequest:
    now = time.time()
    return events_pb2.PutEventsRequest(
        tracking_id=tracking_id,
        session_id=f"s{n % 997}",
        user_id=f"u{n % 5003}",
        event_list=[
            events_pb2.Event(event_type="click", item_id=f"i{(n * 7 + k) % 20011}", sent_at=now, event_value=1.0)
            for k in range(events)
        ],
    )


async def grpc_level(ports: list[int], tracking_id: str, concurrency: int, seconds: float, events: int) -> Result:
    channels = [aio_channel(f"127.0.0.1:{p}") for p in ports]
    stubs = [events_pb2_grpc.PersonalizeEventsStub(c) for c in channels]
    for stub in stubs:  # warm-up: channel set-up and the catalog cache
        await stub.PutEvents(make_request(tracking_id, 0, events))

    async def call(n: int) -> int:
        await stubs[n % len(stubs) if len(stubs) > 1 else 0].PutEvents(make_request(tracking_id, n, events))
        return events

    started = time.perf_counter()
    count, latencies = await closed_loop(concurrency, seconds, call)
    elapsed = time.perf_counter() - started
    for c in channels:
        await c.close()
    return Result(f"gRPC PutEvents ({len(ports)} proc)", concurrency, count, elapsed, latencies)


class RawCalls:
    """confluent-kafka from asyncio: ``events`` records per call, one future per call."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.producer = RawProducer(producer_config(bootstrap))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()
        self.value = b"\x02u1\x02i1\x80\x80\x80\x80\x0c\nclick\x02\x00\x00\x80?"

    def _poll(self) -> None:
        while not self.stop.is_set():
            self.producer.poll(0.05)

    async def call(self, n: int, events: int) -> int:
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        left = [events]
        lock = threading.Lock()

        def resolve() -> None:
            if not fut.done():
                fut.set_result(None)

        def done(err: KafkaError | None, _msg: Message) -> None:
            with lock:
                left[0] -= 1
                last = left[0] == 0
            if last:
                loop.call_soon_threadsafe(resolve)

        for k in range(events):
            self.producer.produce(
                self.topic,
                self.value,
                f"u{(n + k) % 5003}".encode(),
                headers=[("tailor-source", b"put")],
                on_delivery=done,
            )
        await fut
        return events

    def close(self) -> None:
        self.producer.flush(10)
        self.stop.set()


def raw_unbounded(bootstrap: str, topic: str, seconds: float) -> Result:
    producer = RawProducer(
        producer_config(
            bootstrap, **{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000, "delivery.report.only.error": True}
        )
    )
    value = b"\x02u1\x02i1\x80\x80\x80\x80\x0c\nclick\x02\x00\x00\x80?"
    started = time.perf_counter()
    n = 0
    while time.perf_counter() - started < seconds:
        for _ in range(1000):
            try:
                producer.produce(topic, value, f"u{n % 5003}".encode(), headers=[("tailor-source", b"put")])
            except BufferError:
                producer.poll(0.01)
            n += 1
        producer.poll(0)
    producer.flush(30)
    return Result("raw producer, unbounded", 0, n, time.perf_counter() - started, [])


def start_ingest(bootstrap: str, prefix: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": bootstrap,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_INGEST_PORT": str(port),
        "TAILOR_INGEST_METRICS_PORT": "0",
        "TAILOR_INGEST_WORKER": "false",
        "TAILOR_LOG_LEVEL": "WARNING",
        **identity.ensure(localstack.StackConfig.from_env().state_dir).env(),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tailor_ingest"], env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
    )


def wait_serving(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if health_serving(f"127.0.0.1:{port}"):
            return
        time.sleep(0.2)
    raise RuntimeError(f"ingest on port {port} did not start")


def import_csv(bootstrap: str, prefix: str, group_name: str, csv_path: Path) -> tuple[int, float, bool, str]:
    """Import ``csv_path`` into a fresh dataset group through the import job's code path (no status reports)."""
    group = seed.seed_group(bootstrap, prefix, group_name, {"Interactions": RATINGS_SCHEMA}, tracker=False)
    settings = IngestSettings.from_env({"TAILOR_KAFKA_BOOTSTRAP": bootstrap, "TAILOR_TOPIC_PREFIX": prefix})
    view = ResourceView(bootstrap, prefix)
    view.start()
    view.wait_ready()
    try:
        dataset = view.get(group.dataset_arn("Interactions"))
        assert dataset is not None
        target = dataset_target(view, dataset, prefix)
        importer = Importer(settings, view, TopicGuard(bootstrap), lambda _u: None)
        job = f"arn:aws:personalize:us-east-1:000000000000:dataset-import-job/bench-{group_name}"
        request = ImportRequest(job, group.dataset_arn("Interactions"), f"file://{csv_path}", "FULL")
        result = importer.execute(request, target)
    finally:
        view.stop()
    return result.rows, result.seconds, result.buffered, target.topic


def ratings_csv(path: Path) -> None:
    with RATINGS.open(newline="") as src, path.open("w", newline="") as dst:
        rows = csv.reader(src)
        next(rows)
        out = csv.writer(dst, lineterminator="\n")
        out.writerow(["USER_ID", "ITEM_ID", "EVENT_VALUE", "TIMESTAMP"])
        out.writerows(rows)


def synthetic_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as dst:
        dst.write("USER_ID,ITEM_ID,EVENT_VALUE,TIMESTAMP\n")
        for start in range(0, rows, 100_000):
            dst.write(
                "".join(
                    f"user{n % 50_000},item{(n * 7919) % 200_000},{n % 5 + 1}.0,{1_600_000_000 + n}\n"
                    for n in range(start, min(rows, start + 100_000))
                )
            )


def bench_bulk(bootstrap: str, prefix: str, reader_rows: int) -> str:
    lines = ["| bulk path | rows | seconds | rows/s |", "|---|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ratings.csv"
        ratings_csv(path)
        rows, seconds, buffered, topic = import_csv(bootstrap, prefix, "ratings", path)
        mode = "validate + buffer, then write" if buffered else "validate, then re-read and write"
        lines.append(
            f"| import ml-latest-small ratings.csv ({mode}) | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} |"
        )
        snap = read_dataset(bootstrap, topic, "Interactions", RATINGS_SCHEMA)
        lines.append(
            f"| dataset_reader snapshot of it (columnar numpy) | {snap.num_rows:,} | {snap.seconds:.2f} | "
            f"{snap.num_rows / snap.seconds:,.0f} |"
        )
        if reader_rows:
            path = Path(tmp) / "synthetic.csv"
            synthetic_csv(path, reader_rows)
            rows, seconds, buffered, topic = import_csv(bootstrap, prefix, "synthetic", path)
            lines.append(f"| import synthetic CSV | {rows:,} | {seconds:.2f} | {rows / seconds:,.0f} |")
            snap = read_dataset(bootstrap, topic, "Interactions", RATINGS_SCHEMA)
            lines.append(
                f"| dataset_reader snapshot of it | {snap.num_rows:,} | {snap.seconds:.2f} | "
                f"{snap.num_rows / snap.seconds:,.0f} |"
            )
    return "\n".join(lines)


def table(results: list[Result]) -> str:
    lines = ["| path | concurrency | events/s | ack p50 ms | ack p99 ms | calls |", "|---|---:|---:|---:|---:|---:|"]
    for r in results:
        conc = str(r.concurrency) if r.concurrency else "-"
        p50 = f"{r.pct(0.50):.1f}" if r.latencies_ms else "-"
        p99 = f"{r.pct(0.99):.1f}" if r.latencies_ms else "-"
        lines.append(f"| {r.name} | {conc} | {r.rate:,.0f} | {p50} | {p99} | {len(r.latencies_ms) or '-'} |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> None:
    prefix = f"bench-ingest-{uuid.uuid4().hex[:8]}"
    bootstrap = args.bootstrap
    group = seed.seed_group(bootstrap, prefix, "events", {"Interactions": EVENTS_SCHEMA})
    assert group.tracking_id is not None
    ensure_topics(bootstrap, [topic_spec(group.topic(prefix, "Interactions"), "Interactions")])
    # A raw producer's topic (no dataset group behind it): a legacy-layout name is enough.
    raw_topic = dataset_topic(prefix, "raw", "Interactions")
    ensure_topics(bootstrap, [topic_spec(raw_topic, "Interactions")])
    levels = [int(c) for c in args.concurrency.split(",")]
    results: list[Result] = []
    logs = Path(tempfile.mkdtemp(prefix="ingest-bench-"))
    ports = [free_port() for _ in range(args.processes)]
    procs = [start_ingest(bootstrap, prefix, port, logs / f"ingest-{i}.log") for i, port in enumerate(ports)]
    try:
        for port in ports:
            wait_serving(port)
        for c in levels:
            results.append(await grpc_level(ports, group.tracking_id, c, args.seconds, args.events))
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)
    raw = RawCalls(bootstrap, raw_topic)
    for c in levels:
        count, lat = await closed_loop(c, args.seconds, lambda n: raw.call(n, args.events))
        results.append(Result(f"raw producer, {args.events}/call", c, count, args.seconds, lat))
    raw.close()
    results.append(raw_unbounded(bootstrap, raw_topic, args.seconds))
    print(
        f"\n{os.cpu_count()} CPUs, broker {bootstrap}, {args.events} events per call, {args.seconds:.0f}s per level\n"
    )
    print(table(results))
    try:
        if not args.skip_import:
            print()
            print(bench_bulk(bootstrap, prefix, args.reader_rows))
    finally:
        # The million-row topics are not worth keeping on a development stack.
        localstack.purge_prefix(localstack.StackConfig.from_env(), prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", default=os.environ.get("TAILOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,16,64")
    parser.add_argument("--events", type=int, default=10, help="events per PutEvents call (Personalize max 10)")
    parser.add_argument("--processes", type=int, default=1, help="ingest server processes (one port each)")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--reader-rows", type=int, default=1_000_000, help="synthetic rows to import and read back")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
