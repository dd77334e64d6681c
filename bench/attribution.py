"""Metric attribution and automatic updates (M2, ADR 0022): two numbers the issue asks for.

* Attribution lag: control and a stream worker run as processes under a fresh prefix, with a metric attribution
  (SAMPLECOUNT of clicks). Clicks are produced straight to the Interactions topic at a steady rate (1,000/s by
  default); a thread scrapes the stream's /metrics every ~20 ms. An event's lag is the time from its broker
  acknowledgement to the first scrape whose ``tailor_stream_attribution_metric_value`` counts it (the scrape
  period bounds the resolution). p50 and p99 per run, several runs side by side.
* Automatic update wall time: a User-Personalization version is trained (training capped by time) on a
  synthetic catalogue of 10,000 items, then 100 new items arrive (as PutItems would write them) and the
  trainer's CAMPAIGN_AUTO_UPDATE job runs: read the snapshot from Kafka, the UPDATE training, export. Its wall
  time per run, several runs (each with 100 more items).

    uv run python bench/attribution.py [--rate 1000] [--seconds 10] [--runs 3] [--items 10000] [--users 1000]
                                       [--updates 3] [--skip-lag] [--skip-update]

Needs the local stack (``uv run tailor local up``); cleans up its prefix.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import harness
from confluent_kafka import Producer

from tailor_shared import storage
from tailor_shared.avro import AvroCodec
from tailor_shared.jobs import JobRecord, JobType, StatusUpdate
from tailor_shared.kafka import TopicSpec, ensure_topics
from tailor_shared.records import RowContext, encode_row, new_event_id
from tailor_shared.resources import InMemoryResources, ResourceRecord
from tailor_shared.schemas import avro_record
from tailor_shared.topics import dataset_topic_for
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client
from tailor_trainer.domain.autotrain import TRAINED_ON
from tailor_trainer.jobs import TrainingJobs

SERIES = "tailor_stream_attribution_metric_value"
SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")
BASE = "arn:aws:personalize:us-east-1:000000000000:"


class Scraper(threading.Thread):
    """(monotonic time, attributed clicks) every ``period`` seconds from the stream's /metrics."""

    def __init__(self, url: str, period: float = 0.02) -> None:
        super().__init__(daemon=True)
        self.url, self.period = url, period
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                with urllib.request.urlopen(self.url, timeout=2) as reply:
                    text = reply.read().decode()
                found = re.search(rf"^{SERIES}{{[^}}]*}} (\S+)$", text, re.MULTILINE)
                self.samples.append((time.monotonic(), float(found.group(1)) if found else 0.0))
            except OSError:
                pass
            time.sleep(self.period)


def lag_run(producer: Producer, topic: str, ctx: tuple[str, str], scraper: Scraper, base: float, rate: int,
            seconds: float) -> tuple[list[float], int]:  # fmt: skip
    """Produce ``rate * seconds`` clicks at ``rate``; each one's lag (s) once the scrapes counted it all."""
    codec = AvroCodec(json.dumps(SCHEMA))
    total = int(rate * seconds)
    acked: list[float] = [0.0] * total

    def on_delivery(n: int) -> Any:
        def report(err: Any, _msg: Any) -> None:
            if err is None:
                acked[n] = time.monotonic()

        return report

    started = time.monotonic()
    for n in range(total):
        due = started + n / rate
        while (now := time.monotonic()) < due:
            producer.poll(max(0.0, min(0.001, due - now)))
        row = {
            "USER_ID": f"u{n % 500}",
            "ITEM_ID": f"i{n % 2000}",
            "EVENT_TYPE": "click",
            "TIMESTAMP": int(time.time()),
        }
        out = encode_row(topic, "Interactions", codec, row, RowContext(*ctx, event_id=new_event_id(), session_id="s"))
        producer.produce(
            topic, value=out.value or b"", key=out.key, headers=list(out.headers), on_delivery=on_delivery(n)
        )
        producer.poll(0)
    producer.flush(30)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not scraper.samples or scraper.samples[-1][1] < base + total):
        time.sleep(0.05)
    lags: list[float] = []
    samples = list(scraper.samples)
    j = 0
    for n in range(total):  # the (n+1)-th click of this run is counted once the value reaches base + n + 1
        while j < len(samples) and samples[j][1] < base + n + 1:
            j += 1
        if j == len(samples) or not acked[n]:
            continue
        lags.append(max(0.0, samples[j][0] - acked[n]))
    return lags, total


def attribution_lag(stack: localstack.StackConfig, workdir: Path, rate: int, seconds: float, runs: int) -> None:
    prefix = f"bench-attr-{uuid.uuid4().hex[:8]}"
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
        "TAILOR_REDIS_URL": stack.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
        "TAILOR_STREAM_JANITOR_INTERVAL_S": "0",
    }
    procs = [harness.start_service(name, env, workdir) for name in ("control", "stream")]
    scraper: Scraper | None = None
    try:
        for proc in procs:
            harness.wait_serving(proc)
        control = Client(procs[0].address, "control")
        group = control.call("CreateDatasetGroup", name="shop")["datasetGroupArn"]
        control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
        schema = control.call("CreateSchema", name=f"{prefix}-i", schema=json.dumps(SCHEMA))["schemaArn"]
        dataset = control.call(
            "CreateDataset", name="events", schemaArn=schema, datasetGroupArn=group, datasetType="Interactions"
        )["datasetArn"]
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
        attribution = control.call(
            "CreateMetricAttribution", name="clicks", datasetGroupArn=group,
            metrics=[{"eventType": "click", "expression": "SAMPLECOUNT()", "metricName": "CLICKS"}],
            metricsOutputConfig={"roleArn": "arn:aws:iam::000000000000:role/p"},
        )["metricAttributionArn"]  # fmt: skip
        control.wait_for("DescribeMetricAttribution", "metricAttribution", metricAttributionArn=attribution)
        control.close()
        with storage.records(stack.kafka_bootstrap, prefix) as view:
            topic = storage.dataset_topic(view, prefix, dataset)
        ensure_topics(stack.kafka_bootstrap, [TopicSpec(topic, 4)])
        scraper = Scraper(f"http://{procs[1].address}/metrics")
        scraper.start()
        producer = Producer({"bootstrap.servers": stack.kafka_bootstrap, "linger.ms": 1, "acks": "all"})
        print(f"attribution lag: {rate} clicks/s for {seconds:.0f} s per run, /metrics scraped every ~20 ms")
        print(f"{'run':>4} {'events':>7} {'counted':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
        # Warm-up: the worker discovers the topic (metadata refresh) and joins its partitions before any timing.
        warm, _ = lag_run(producer, topic, (dataset, schema), scraper, 0.0, 20, 1.0)
        if len(warm) < 20:
            raise SystemExit("the attribution worker never counted the warm-up clicks")
        base = 20.0
        p50s, p99s = [], []
        for run in range(1, runs + 1):
            lags, total = lag_run(producer, topic, (dataset, schema), scraper, base, rate, seconds)
            base += total
            p50, p99 = harness.pct(lags, 0.5) * 1000, harness.pct(lags, 0.99) * 1000
            p50s.append(p50)
            p99s.append(p99)
            print(f"{run:>4} {total:>7} {len(lags):>8} {p50:>8.1f} {p99:>8.1f} {max(lags) * 1000:>8.1f}")
        print(f"median of runs: p50 {statistics.median(p50s):.1f} ms, p99 {statistics.median(p99s):.1f} ms")
    finally:
        if scraper is not None:
            scraper.stop.set()
        for proc in procs:
            proc.stop()
        localstack.purge_prefix(stack, prefix)


def auto_update(stack: localstack.StackConfig, workdir: Path, n_items: int, n_users: int, updates: int) -> None:
    """The trainer's CAMPAIGN_AUTO_UPDATE on a ``n_items`` catalogue, in process against the real Kafka."""
    prefix = f"bench-upd-{uuid.uuid4().hex[:8]}"
    bootstrap = stack.kafka_bootstrap
    try:
        data = synthetic.generate(n_users=n_users, n_items=n_items, seed=3)
        view = InMemoryResources()
        group = ResourceRecord(BASE + "dataset-group/g", "datasetGroup", {"name": "g", "status": "ACTIVE"}, None)
        view.put(group)
        topics, arns = {}, {}
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20})
        for kind, schema, rows in (
            ("Interactions", synthetic.INTERACTIONS_SCHEMA, data.interactions),
            ("Items", synthetic.ITEMS_SCHEMA, data.items),
        ):
            schema_arn, dataset_arn = BASE + f"schema/g-{kind}", BASE + f"dataset/g/{kind.upper()}"
            view.put(
                ResourceRecord(schema_arn, "schema", {"schemaArn": schema_arn, "schema": json.dumps(schema)}, None)
            )
            ds: dict[str, Any] = {"datasetArn": dataset_arn, "datasetType": kind, "schemaArn": schema_arn}
            ds["status"] = "ACTIVE"
            view.put(ResourceRecord(dataset_arn, "dataset", ds, group.arn))
            topics[kind], arns[kind] = dataset_topic_for(prefix, group.body, ds), (dataset_arn, schema_arn)
            ensure_topics(bootstrap, [TopicSpec(topics[kind], 2)])
            _produce(producer, topics[kind], kind, schema, arns[kind], rows)
        solution = BASE + "solution/up"
        view.put(ResourceRecord(solution, "solution", {
            "solutionArn": solution, "datasetGroupArn": group.arn, "status": "ACTIVE",
            "recipeArn": "arn:aws:personalize:::recipe/aws-user-personalization"}, group.arn))  # fmt: skip
        version_arn = f"{solution}/v1"
        version: dict[str, Any] = {"solutionVersionArn": version_arn, "solutionArn": solution}
        version.update(status="CREATE PENDING", trainingMode="FULL", creationDateTime=1.0)
        view.put(ResourceRecord(version_arn, "solutionVersion", version, solution))
        reports: list[StatusUpdate] = []
        jobs = TrainingJobs(view, bootstrap, prefix, str(workdir / "models"), 0, reports.append, lambda _n: 120.0)
        started = time.monotonic()
        jobs.run(JobRecord(JobType.SOLUTION_VERSION, version_arn, "solutionVersion", version, 1.0))
        if reports[-1].status != "ACTIVE":
            raise SystemExit(f"training failed: {reports[-1]}")
        print(f"\nautomatic update on {n_items:,} items / {len(data.interactions):,} interactions "
              f"(FULL training, capped at 120 s: {time.monotonic() - started:.1f} s)")  # fmt: skip
        version = {**version, "status": "ACTIVE", TRAINED_ON: reports[-1].fields[TRAINED_ON]}
        view.put(ResourceRecord(version_arn, "solutionVersion", version, solution))
        campaign_arn = BASE + "campaign/c"
        walls: list[float] = []
        newest = max(int(str(r["TIMESTAMP"])) for r in data.interactions)
        body: dict[str, Any] = {"campaignArn": campaign_arn, "solutionVersionArn": version_arn, "status": "ACTIVE"}
        print(f"{'run':>4} {'catalogue':>10} {'wall s':>8}")
        for run in range(1, updates + 1):
            fresh = [{**data.items[0], "ITEM_ID": f"new-{run}-{k}", "CREATION_TIMESTAMP": newest} for k in range(100)]
            _produce(producer, topics["Items"], "Items", synthetic.ITEMS_SCHEMA, arns["Items"], fresh)
            body = {**body, "_autoUpdateRequestedAt": float(run)}
            view.put(ResourceRecord(campaign_arn, "campaign", body, solution))
            reports.clear()
            started = time.monotonic()
            jobs.run_auto_update(JobRecord(JobType.CAMPAIGN_AUTO_UPDATE, campaign_arn, "campaign", body, float(run)))
            walls.append(time.monotonic() - started)
            done = [r for r in reports if "_model" in r.fields]
            if not done:
                raise SystemExit("the automatic update reported nothing")
            body = {**body, **done[0].fields}
            print(f"{run:>4} {n_items + 100 * run:>10,} {walls[-1]:>8.2f}")
        print(f"median {statistics.median(walls):.2f} s, max {max(walls):.2f} s")
    finally:
        localstack.purge_prefix(stack, prefix)


def _produce(producer: Producer, topic: str, kind: str, schema: Any, arns: tuple[str, str], rows: Any) -> None:
    codec = AvroCodec(json.dumps(schema))
    for row in rows:
        out = encode_row(topic, kind, codec, row, RowContext(*arns))
        producer.produce(topic, value=out.value or b"", key=out.key, headers=list(out.headers))
        producer.poll(0)
    producer.flush(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--skip-lag", action="store_true")
    parser.add_argument("--skip-update", action="store_true")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a timeout still cleans up (finally blocks)
    stack = localstack.StackConfig.from_env()
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-attribution-") as tmp:
        if not args.skip_lag:
            attribution_lag(stack, Path(tmp), args.rate, args.seconds, args.runs)
        if not args.skip_update:
            auto_update(stack, Path(tmp), args.items, args.users, args.updates)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
