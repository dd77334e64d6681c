"""Object storage, the model store on S3 and request quotas (ADR 0023), on the local stack's versitygw and Redis.

1. Import throughput: ml-latest-small's ratings.csv and a 1,000,000-row CSV imported through the import job's
   code (parse, validate, encode, produce to Kafka) from ``file://`` and from ``s3://`` in the same run.
2. Model load: a UP-v2 model directory (trained once by the trainer's code, cached like bench/runtime_latency)
   loaded from local disk, and fetched from the S3 model store into an empty cache and then loaded.
3. Quota overhead per request: ``RequestQuotas.admit`` against the real Redis with the default lease (2 %),
   with every call going to Redis (lease 0), next to no quota at all.

    uv run python bench/object_store.py [--runs 3] [--big-rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import redis.asyncio as aioredis
from harness import pct
from ingest_throughput import RATINGS_SCHEMA, ratings_csv, synthetic_csv
from runtime_latency import _trainer_hash, trained_model

from tailor_ingest.adapters import TopicGuard
from tailor_ingest.config import IngestSettings
from tailor_ingest.domain import dataset_target
from tailor_ingest.importer import Importer, ImportRequest
from tailor_shared.config import QuotaSettings, S3Settings
from tailor_shared.model_store import ModelStore
from tailor_shared.objectstore import ObjectStore
from tailor_shared.quotas import RequestQuotas
from tailor_shared.resource_view import ResourceView
from tailor_shared.scoring.loader import LoadedModel
from tailor_tools import localstack, seed, synthetic

ROOT = Path(__file__).resolve().parents[1]


def summary(values: list[float]) -> tuple[float, float]:
    return statistics.median(values), pct(values, 0.99)


def import_once(
    cfg: localstack.StackConfig, prefix: str, view: ResourceView, importer: Importer, location: str, name: str
) -> tuple[int, float]:
    """One import job's work into a fresh dataset group, by a long-lived importer (as the ingest worker's)."""
    group = seed.seed_group(cfg.kafka_bootstrap, prefix, name, {"Interactions": RATINGS_SCHEMA}, tracker=False)
    view.catch_up()
    dataset = view.get(group.dataset_arn("Interactions"))
    assert dataset is not None
    target = dataset_target(view, dataset, prefix)
    job = f"arn:aws:personalize:us-east-1:000000000000:dataset-import-job/{name}"
    result = importer.execute(ImportRequest(job, group.dataset_arn("Interactions"), location, "FULL"), target)
    return result.rows, result.seconds


def bench_imports(cfg: localstack.StackConfig, store: ObjectStore, bucket: str, runs: int, big_rows: int) -> str:
    prefix = f"bench-o2-{uuid.uuid4().hex[:8]}"
    lines = [
        "| input | source | rows | runs | median s | p99 s | median rows/s |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    env = {"TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap, "TAILOR_TOPIC_PREFIX": prefix, **cfg.s3_env()}
    view = ResourceView(cfg.kafka_bootstrap, prefix)
    view.start()
    view.wait_ready()
    importer = Importer(IngestSettings.from_env(env), view, TopicGuard(cfg.kafka_bootstrap), lambda _u: None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            inputs = [("ml-latest-small ratings.csv", Path(tmp) / "ratings.csv", runs)]
            ratings_csv(inputs[0][1])
            if big_rows:
                inputs.append((f"synthetic {big_rows:,}-row CSV", Path(tmp) / "big.csv", max(2, runs - 1)))
                synthetic_csv(inputs[1][1], big_rows)
            for label, path, n in inputs:
                url = f"s3://{bucket}/in/{path.name}"
                with path.open("rb") as src, store.open_write(url) as dst:
                    shutil.copyfileobj(src, dst, 1024 * 1024)
                for source, location in (("file://", f"file://{path}"), ("s3:// (versitygw)", url)):
                    seconds: list[float] = []
                    rows = 0
                    for k in range(n):
                        name = f"{path.stem}-{'s3' if location.startswith('s3') else 'file'}-{k}"
                        rows, took = import_once(cfg, prefix, view, importer, location, name)
                        seconds.append(took)
                    med, p99 = summary(seconds)
                    lines.append(f"| {label} | {source} | {rows:,} | {n} | {med:.2f} | {p99:.2f} | {rows / med:,.0f} |")
                    print(lines[-1], file=sys.stderr, flush=True)
    finally:
        view.stop()
        localstack.purge_prefix(cfg, prefix)
    return "\n".join(lines)


def bench_model_load(store: ObjectStore, bucket: str, runs: int) -> str:
    data = synthetic.generate(n_users=1000, n_items=10000, seed=7)
    cache = ROOT / ".tailor" / "bench-cache" / f"runtime-upv2-1000u-10000i-s7-{_trainer_hash()}"
    model_dir = trained_model(data, cache)
    size = sum(p.stat().st_size for p in model_dir.rglob("*") if p.is_file())
    relative = "models/sol/v1"
    store.upload_dir(model_dir, f"s3://{bucket}/{relative}")
    local: list[float] = []
    remote: list[float] = []
    fetch_only: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        LoadedModel(model_dir)
        local.append(time.perf_counter() - started)
        with tempfile.TemporaryDirectory() as tmp:
            models = ModelStore(f"s3://{bucket}/models", store, tmp)
            started = time.perf_counter()
            directory = models.fetch(Path(tmp) / "sol" / "v1")
            fetched = time.perf_counter()
            LoadedModel(directory)
            remote.append(time.perf_counter() - started)
            fetch_only.append(fetched - started)
    rows = [
        ("local disk (LoadedModel)", local),
        ("S3 model store: fetch into an empty cache", fetch_only),
        ("S3 model store: fetch + LoadedModel", remote),
    ]
    lines = [
        f"Model: UP-v2, 1,000 users x 10,000 items, {size / 1e6:.1f} MB on disk; {runs} runs.",
        "",
        "| path | median s | p99 s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {summary(v)[0]:.3f} | {summary(v)[1]:.3f} |" for label, v in rows]
    return "\n".join(lines)


async def bench_quotas(cfg: localstack.StackConfig, calls: int) -> str:
    prefix = f"bench-o2q-{uuid.uuid4().hex[:8]}"
    client = aioredis.Redis.from_url(cfg.redis_url)
    request = SimpleNamespace(campaign_arn="arn:aws:personalize:us-east-1:000000000000:campaign/bench")
    rows: list[tuple[str, list[float]]] = []
    try:
        cases: list[tuple[str, Callable[[], RequestQuotas | None]]] = [
            ("no quotas", lambda: None),
            (
                # The default lease of a 500/s quota is 2 % = 10 tokens; the rate here is high enough that the
                # sequential calls are never throttled, with the same 10-token lease.
                "quota, lease of 10 tokens (the default for 500/s)",
                lambda: RequestQuotas(client, prefix, QuotaSettings({"GetRecommendations": 1e6}, 1e-5), "bench"),
            ),
            (
                "quota, every call to Redis (lease 1 token)",
                lambda: RequestQuotas(client, prefix, QuotaSettings({"GetRecommendations": 1e6}, 0.0), "bench"),
            ),
        ]
        for label, make in cases:
            quotas = make()
            times: list[float] = []
            for _ in range(calls):
                started = time.perf_counter()
                if quotas is not None:
                    await quotas.admit("GetRecommendations", request)
                times.append((time.perf_counter() - started) * 1e6)
            rows.append((label, times))
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()  # type: ignore[attr-defined]
    lines = [f"{calls:,} sequential admit() calls per row, one process.", "", "| case | mean us | p50 us | p99 us |"]
    lines.append("|---|---:|---:|---:|")
    for label, t in rows:
        lines.append(f"| {label} | {statistics.fmean(t):.1f} | {pct(t, 0.5):.1f} | {pct(t, 0.99):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--big-rows", type=int, default=1_000_000)
    parser.add_argument("--quota-calls", type=int, default=20_000)
    args = parser.parse_args()
    cfg = localstack.StackConfig.from_env()
    localstack.up(cfg)
    store = ObjectStore(S3Settings.from_env(cfg.s3_env()))
    bucket = f"bench-o2-{uuid.uuid4().hex[:8]}"
    store.create_bucket(bucket)
    try:
        print("### Import from file:// and s3://\n")
        print(bench_imports(cfg, store, bucket, args.runs, args.big_rows))
        print("\n### Model load: local disk vs the S3 model store\n")
        loads = bench_model_load(store, bucket, max(5, args.runs))
        print(loads)
        print("\n### Request-quota overhead per call\n")
        quotas = asyncio.run(bench_quotas(cfg, args.quota_calls))
        print(quotas)
    finally:
        store.delete_bucket(bucket)


if __name__ == "__main__":
    main()
