"""What every benchmark needs: free ports, percentiles, CPU accounting, and Tailor services as processes.

Benchmarks are scripts (``uv run python bench/<name>.py``); their directory is on ``sys.path``, so they
import this module as ``harness``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import Producer as RawProducer

from tailor_shared import storage
from tailor_shared.jobs import StatusUpdate, job_status_topic
from tailor_tools import identity, localstack
from tailor_tools.client import health_serving
from tailor_tools.ports import free_port

#: The gRPC health service name each service reports SERVING under.
HEALTH = {
    "control": "tailor.control.v1.PersonalizeControl",
    "ingest": "tailor.events.v1.PersonalizeEvents",
    "runtime": "tailor.runtime.v1.PersonalizeRuntime",
    "batch": "",
}


def private_stack(workdir: Path) -> localstack.StackConfig:
    """A local stack's config of the benchmark's own (its state under ``workdir``, free ports, the set-up's Kafka
    jars): started with ``localstack.up``, it leaves the shared stack alone."""
    cfg = localstack.StackConfig(
        state_dir=workdir / "stack",
        kafka_port=free_port(),
        controller_port=free_port(),
        redis_port=free_port(),
    )
    cfg.state_dir.mkdir()
    cfg.kafka_libs.symlink_to(localstack.StackConfig.from_env().kafka_libs, target_is_directory=True)
    return cfg


def pct(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of unsorted values; NaN when there are none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc): unlike wall time, not inflated by other load."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (the runtime's worker processes are children of the first)."""
    out = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for child in children:
        out.extend(process_tree(int(child)))
    return out


@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def pids(self) -> list[int]:
        return process_tree(self.proc.pid)

    def cpu(self) -> float:
        return sum(proc_cpu(p) for p in self.pids())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_service(name: str, env: dict[str, str], workdir: Path, tag: str = "", **extra: str) -> Proc:
    """``python -m tailor_<name>`` on free ports with ``env`` (bootstrap, Redis URL, topic prefix, ...)."""
    port, metrics = free_port(), free_port()
    full = {
        **os.environ,
        # Authentication is on: the benchmarks' clients sign with the development identity (tailor_tools.client).
        **identity.ensure(localstack.StackConfig.from_env().state_dir).env(),
        **env,
        f"TAILOR_{name.upper()}_PORT": str(port),
        f"TAILOR_{name.upper()}_METRICS_PORT": str(metrics),
        "TAILOR_LOG_LEVEL": "WARNING",
        **extra,
    }
    log = workdir / f"{name}{tag}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", f"tailor_{name}"], env=full, stdout=out, stderr=subprocess.STDOUT
        )
    return Proc(name, proc, port, log)


def wait_serving(svc: Proc, timeout: float = 120) -> None:
    """Until the service's gRPC health says SERVING (services without gRPC return at once)."""
    if svc.name not in HEALTH:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and svc.proc.poll() is None:
        if health_serving(svc.address, HEALTH[svc.name]):
            return
        time.sleep(0.1)
    raise SystemExit(f"{svc.name} did not start; log:\n{svc.log.read_text(errors='replace')[-3000:]}")


def redis_cpu(info: Mapping[str, Any]) -> float:
    """Redis server CPU seconds from an ``INFO cpu`` reply (sync or asyncio client alike)."""
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident memory) of a live process (Linux), else 0."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def install_model(bootstrap: str, prefix: str, model_store: str, version: str, model: Path) -> None:
    """Make ``model`` (a trained model directory, usually cached) the model of the solution version ``version``
    and report the version ACTIVE on the job-status topic as the trainer would: benchmarks serve a model trained
    once instead of training under every run. The caller waits for DescribeSolutionVersion to say ACTIVE."""
    with storage.records(bootstrap, prefix) as view:
        shutil.copytree(model, storage.solution_version_dir(view, model_store, version))
    manifest = json.loads((model / "manifest.json").read_text())
    producer = RawProducer({"bootstrap.servers": bootstrap})
    update = StatusUpdate(version, "ACTIVE", fields={"metrics": manifest.get("metrics", {}), "trainingHours": 0.01})
    producer.produce(job_status_topic(prefix), update.to_json(), version.encode())
    producer.flush(30)
