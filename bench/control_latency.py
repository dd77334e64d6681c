"""Control-plane latency and recovery on the local stack.

Create and Describe latency (p50/p99) from a gRPC client, over several rounds, and the time a fresh
control process needs to rebuild its view of N resources (from process start to gRPC SERVING, and the
view fold alone). Loopback only; run with the local stack up::

    uv run python bench/control_latency.py                  # 3 rounds x 300 creates, 10,000 resources
    uv run python bench/control_latency.py --resources 2000 # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from harness import pct

from tailor_shared.resource_view import ResourceView
from tailor_shared.schemas import avro_record
from tailor_tools import identity, localstack
from tailor_tools.client import Client, channel
from tailor_tools.ports import free_port

SCHEMA = json.dumps(avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP"))


def start_control(prefix: str, bootstrap: str, log: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start control and return (process, address, seconds until it answered health SERVING)."""
    port = free_port()
    env = {
        **os.environ,
        "TAILOR_KAFKA_BOOTSTRAP": bootstrap,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_CONTROL_PORT": str(port),
        "TAILOR_CONTROL_METRICS_PORT": "0",
        "TAILOR_CONTROL_QUOTAS": json.dumps({"active_schemas": 1_000_000}),
        "TAILOR_LOG_LEVEL": "WARNING",
        **identity.ensure(localstack.StackConfig.from_env().state_dir).env(),
    }
    start = time.perf_counter()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "tailor_control"], env=env, stdout=out, stderr=subprocess.STDOUT)
    address = f"127.0.0.1:{port}"
    health = channel(address, signed=False)  # health checks stay open
    stub = health_pb2_grpc.HealthStub(health)
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"control exited; see {log}")
        try:
            if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == health_pb2.HealthCheckResponse.SERVING:
                break
        except grpc.RpcError:
            time.sleep(0.02)
    health.close()
    return proc, address, time.perf_counter() - start


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", default=os.environ.get("TAILOR_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--creates", type=int, default=300, help="CreateSchema calls per round")
    parser.add_argument("--resources", type=int, default=10_000, help="resources on the topic for the rebuild")
    args = parser.parse_args()

    prefix = f"bench-control-{uuid.uuid4().hex[:8]}"
    log = Path(tempfile.mkdtemp()) / "control.log"
    proc, address, _ = start_control(prefix, args.bootstrap, log)
    client = Client(address, "control")
    rows: list[tuple[str, int, float, float, float]] = []
    created = 0
    try:
        for r in range(args.rounds):
            create_ms: list[float] = []
            describe_ms: list[float] = []
            arns: list[str] = []
            for i in range(args.creates):
                t = time.perf_counter()
                arns.append(client.call("CreateSchema", name=f"s-{r}-{i}", schema=SCHEMA)["schemaArn"])
                create_ms.append((time.perf_counter() - t) * 1000)
            created += args.creates
            for arn in arns:
                t = time.perf_counter()
                client.call("DescribeSchema", schemaArn=arn)
                describe_ms.append((time.perf_counter() - t) * 1000)
            for name, values in (("CreateSchema", create_ms), ("DescribeSchema", describe_ms)):
                rows.append((name, r + 1, statistics.median(values), pct(values, 0.99), max(values)))
        # Fill the topic up to --resources through the API (so records are exactly what control writes).
        fill = [f"fill-{i}" for i in range(max(0, args.resources - created))]
        for name in fill:
            client.call("CreateSchema", name=name, schema=SCHEMA)
    finally:
        client.close()
        stop(proc)

    print(f"## Control plane latency (gRPC client -> control -> Kafka acks=all -> own view), {args.rounds} rounds\n")
    print("| operation | round | p50 ms | p99 ms | max ms |")
    print("|---|---|---|---|---|")
    for name, r, p50, p99, mx in rows:
        print(f"| {name} | {r} | {p50:.2f} | {p99:.2f} | {mx:.2f} |")

    print(f"\n## Rebuilding the view of {args.resources:,} resources\n")
    print("| run | fresh control: process start -> SERVING (s) | ResourceView fold alone (s) |")
    print("|---|---|---|")
    for run in range(3):
        proc, address, serving_s = start_control(prefix, args.bootstrap, log)
        stop(proc)
        view = ResourceView(args.bootstrap, prefix)
        t = time.perf_counter()
        view.start()
        view.wait_ready(120)
        fold_s = time.perf_counter() - t
        count = len(view)
        view.stop()
        assert count >= args.resources, count
        print(f"| {run + 1} | {serving_s:.2f} | {fold_s:.2f} |")
    localstack.purge_prefix(localstack.StackConfig.from_env(), prefix)


if __name__ == "__main__":
    main()
