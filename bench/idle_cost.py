"""What an idle stack costs: CPU of each process over a quiet minute, and the freshness it keeps (X2, P2 point 5).

Starts a stack of its own (Kafka + Redis from the project's ``localstack`` on free ports under a temporary state
directory, so only its own processes are measured), control, ingest, stream, trainer and runtime; creates dataset
groups (Interactions + Items datasets, an event tracker, a few events each); then for each stream fetch wait in
``--fetch-wait-ms`` (the stream is restarted with it) and each number of groups in ``--groups``:

- **idle CPU**: user+system seconds from ``/proc/<pid>/stat`` of every process of the stack over ``--seconds``
  with no requests, as % of one core (Redis from its own ``INFO cpu``);
- **freshness**: PutEvents returning -> the event counted in Redis, ``--probes`` probes, p50 / p99;
- **create latency**: CreateSchema round trips (control answers once its own resource view read the record).

    uv run python bench/idle_cost.py                      # fetch waits 10,500 ms; 1 and 10 groups; 60 s each
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import harness

from tailor_shared import storage
from tailor_shared.redis_client import redis_from_url
from tailor_tools import localstack, synthetic
from tailor_tools.client import Client

SERVICES = ("control", "ingest", "stream", "trainer", "runtime")


def create_group(control: Client, name: str) -> tuple[str, str]:
    """A dataset group with Interactions and Items datasets and an event tracker; its ARN and tracking id."""
    group = control.call("CreateDatasetGroup", name=name)["datasetGroupArn"]
    control.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group)
    for kind, schema in (("Interactions", synthetic.INTERACTIONS_SCHEMA), ("Items", synthetic.ITEMS_SCHEMA)):
        arn = control.call("CreateSchema", name=f"{name}-{kind}", schema=json.dumps(schema))["schemaArn"]
        dataset = control.call(
            "CreateDataset", name=f"{name}-{kind}", schemaArn=arn, datasetGroupArn=group, datasetType=kind
        )["datasetArn"]
        control.wait_for("DescribeDataset", "dataset", datasetArn=dataset)
    tracker = control.call("CreateEventTracker", name=f"{name}-web", datasetGroupArn=group)
    control.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])
    return group, str(tracker["trackingId"])


def freshness(
    events: Client, redis_url: str, tracking_id: str, keys_count: str, probes: int, limit_s: float = 10.0
) -> list[float]:
    """Seconds from PutEvents returning until the stream counted the event in Redis (at most ``limit_s``)."""
    redis = redis_from_url(redis_url)
    out: list[float] = []
    try:
        for _ in range(probes):
            item = f"probe-{uuid.uuid4().hex[:8]}"
            events.call(
                "PutEvents",
                trackingId=tracking_id,
                userId="prober",
                sessionId="prober",
                eventList=[{"eventType": "probe", "itemId": item, "sentAt": time.time()}],
            )
            returned = time.perf_counter()
            while redis.zscore(keys_count, item) is None:
                if time.perf_counter() - returned > limit_s:
                    raise SystemExit(f"a probe was not in Redis {limit_s:g} s after PutEvents returned")
                time.sleep(0.0005)
            out.append(time.perf_counter() - returned)
            time.sleep(0.2)
    finally:
        redis.close()
    return out


def create_latency(control: Client, name: str, n: int) -> list[float]:
    """CreateSchema round trips: control answers once its own resource view has read the record back."""
    out: list[float] = []
    for i in range(n):
        started = time.perf_counter()
        control.call("CreateSchema", name=f"{name}-{i}", schema=json.dumps(synthetic.INTERACTIONS_SCHEMA))
        out.append(time.perf_counter() - started)
    return out


def measure(procs: dict[str, list[int]], redis_url: str, seconds: float) -> dict[str, float]:
    """% of one core per component over ``seconds`` of idleness."""
    redis = redis_from_url(redis_url)
    before = {name: sum(harness.proc_cpu(p) for p in pids) for name, pids in procs.items()}
    redis_before = harness.redis_cpu(redis.info("cpu"))
    started = time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - started
    after = {name: sum(harness.proc_cpu(p) for p in pids) for name, pids in procs.items()}
    result = {name: 100 * (after[name] - before[name]) / elapsed for name in procs}
    result["redis"] = 100 * (harness.redis_cpu(redis.info("cpu")) - redis_before) / elapsed
    redis.close()
    result["total"] = sum(result.values())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--fetch-wait-ms", default="default", help="stream fetch waits to compare (TAILOR_STREAM_FETCH_WAIT_MS)"
    )
    parser.add_argument("--groups", default="1,10", help="numbers of dataset groups, ascending")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of one idle measurement")
    parser.add_argument("--settle", type=float, default=15.0, help="seconds of quiet before each measurement")
    parser.add_argument("--probes", type=int, default=40, help="freshness probes per configuration")
    args = parser.parse_args()
    waits = args.fetch_wait_ms.split(",")
    group_counts = [int(g) for g in args.groups.split(",")]

    workdir = Path(tempfile.mkdtemp(prefix="tailor-idle-"))
    cfg = harness.private_stack(workdir)
    services: dict[str, harness.Proc] = {}
    clients: list[Client] = []
    prefix = "bench-idle"
    try:
        localstack.up(cfg)
        env = {
            "TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
            "TAILOR_REDIS_URL": cfg.redis_url,
            "TAILOR_TOPIC_PREFIX": prefix,
            "TAILOR_MODEL_STORE": str(workdir / "models"),
            "TAILOR_STREAM_DATA_DIR": str(workdir / "stream"),
            "TAILOR_CONTROL_QUOTAS": json.dumps({"active_dataset_groups": 1000}),  # beyond Personalize's 5
            "TAILOR_INGEST_PRODUCE_TIMEOUT_MS": "10000",  # a shared, busy machine: wait rather than fail a probe
        }
        for name in SERVICES:
            if name != "stream":
                services[name] = harness.start_service(name, env, workdir)
        for svc in services.values():
            harness.wait_serving(svc)
        control = Client(services["control"].address, "control", timeout=60)
        events = Client(services["ingest"].address, "events", timeout=60)
        clients += [control, events]
        groups: list[tuple[str, str]] = []
        print(
            f"{'groups':>6} {'fetch wait':>10} | "
            + " ".join(f"{n:>8}" for n in (*SERVICES, "kafka", "redis"))
            + f" {'total':>7} | {'fresh p50':>9} {'p99':>7} | {'create p50':>10}  (% of one core; ms)"
        )
        for count in group_counts:
            while len(groups) < count:
                groups.append(create_group(control, f"idle-{len(groups)}"))
            for wait in waits:
                if "stream" in services:
                    services.pop("stream").stop()
                extra = {} if wait == "default" else {"TAILOR_STREAM_FETCH_WAIT_MS": wait}
                services["stream"] = harness.start_service("stream", env, workdir, tag=f"-{count}-{wait}", **extra)
                group, tracking = groups[0]
                with storage.records(cfg.kafka_bootstrap, prefix) as view:
                    count_key = storage.group_keys(view, prefix, group).popularity_count("probe")
                # The new worker has joined the group and caught up.
                freshness(events, cfg.redis_url, tracking, count_key, 1, limit_s=180)
                time.sleep(args.settle)
                kafka_pid = localstack.running_pid(cfg, "kafka")
                assert kafka_pid is not None
                procs = {name: services[name].pids() for name in SERVICES} | {"kafka": [kafka_pid]}
                cpu = measure(procs, cfg.redis_url, args.seconds)
                fresh = freshness(events, cfg.redis_url, tracking, count_key, args.probes)
                creates = create_latency(control, f"lat-{count}-{wait}-{uuid.uuid4().hex[:6]}", 10)
                cells = " ".join(f"{cpu[n]:8.2f}" for n in (*SERVICES, "kafka", "redis"))
                print(
                    f"{count:>6} {wait:>10} | {cells} {cpu['total']:7.2f} | "
                    f"{1000 * harness.pct(fresh, 0.5):9.1f} {1000 * harness.pct(fresh, 0.99):7.1f} | "
                    f"{1000 * harness.pct(creates, 0.5):10.1f}",
                    flush=True,
                )
    finally:
        for client in clients:
            client.close()
        for svc in services.values():
            svc.stop()
        localstack.down(cfg)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
