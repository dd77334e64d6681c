"""Run every benchmark and write its output into docs/benchmarks.md: the machine, the date, the command.

    uv run python bench/run_all.py                 # everything (the trainer quality runs dominate: ~1 h)
    uv run python bench/run_all.py --only control,stream

The local stack must be up (``uv run tailor local up``). Each benchmark is a separate process that prints
markdown; this script runs them in order and puts each output between the markers
``<!-- run_all:<name> -->`` and ``<!-- /run_all:<name> -->`` in docs/benchmarks.md, replacing what was there
(a missing block is appended as a new section). Text outside the markers — the reading of the numbers — is
kept, so a partial run (``--only``) updates just its blocks. Benchmarks run one after the other on the same
2 cores, so rows inside one benchmark are comparable; rows across benchmarks less so.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "control": ("Control plane (C1)", ["bench/control_latency.py"]),
    "ingest": ("Ingest (I1)", ["bench/ingest_throughput.py"]),
    "stream": ("Stream processor (S1)", ["bench/stream_throughput.py"]),
    "attribution": ("Metric attribution lag and automatic updates (M2)", ["bench/attribution.py"]),
    "impressions": ("Impressions in User-Personalization training (M2)", ["bench/impression_training.py"]),
    "inbound": ("Inbound JSON (K2)", ["bench/inbound_json.py"]),
    "data-deletion": ("Data deletion (D2)", ["bench/data_deletion.py"]),
    "runtime": ("Runtime (R1)", ["bench/runtime_latency.py"]),
    "runtime-cpu": (
        "Runtime CPU per request against the echo + Redis + ONNX ceiling (P2 point 2)",
        [
            "bench/runtime_latency.py",
            "--concurrency",
            "16",
            "--workers",
            "1",
            "--seconds",
            "3",
            "--rounds",
            "7",
            "--samples",
            "0",
        ],
    ),
    "runtime-1m": ("Runtime at 1,000,000 items (P2)", ["bench/runtime_retrieval.py"]),
    "runtime-filters": ("Filter and promotion cost per request, in process (P2)", ["bench/runtime_filter_cost.py"]),
    "ranking-steps": ("Ranking steps after the ONNX call, in process (P2)", ["bench/ranking_after_onnx.py"]),
    "onnx-batching": ("ONNX CPU per user by users per run, in process (P2 point 2)", ["bench/onnx_batching.py"]),
    "impressions-stall": ("The event loop's wait while impressions drain (P2 point 2)", ["bench/impressions_stall.py"]),
    "batch": ("Batch inference (J2)", ["bench/batch_inference.py"]),
    "nba": ("Next-Best-Action (N2)", ["bench/next_best_action.py"]),
    "segments": ("Batch segments (J2)", ["bench/batch_segments.py"]),
    "object-store": ("Object storage, S3 model store, request quotas (O2)", ["bench/object_store.py"]),
    "s3-clients": ("S3 clients: boto3 (and obstore when installed) (O2)", ["bench/s3_clients.py"]),
    "gateway": ("AWS gateway (G2)", ["bench/gateway_latency.py", "--with-runtime", "--http-stacks"]),
    "console": ("Web console (W2)", ["bench/console_paint.py"]),
    "cluster-scale": ("Cluster scale-out (X2)", ["bench/cluster_scale.py"]),
    "idle": ("Idle cost (X2)", ["bench/idle_cost.py"]),
    "producer-tick": ("Idle producer tick, 0.2 s vs 2 s (P2 point 5)", ["bench/producer_tick.py"]),
    "auth": ("Authentication and authorisation per request (S2)", ["bench/auth_overhead.py"]),
    "tls": ("Encryption in transit: gRPC and Redis, plaintext vs TLS (S2)", ["bench/transport_tls.py"]),
    "trainer-ml100k": ("Trainer quality on ml-100k (T1)", ["bench/trainer_quality.py", "--dataset", "ml-100k"]),
    "trainer-ml100k-nometa": (
        "UP-v2 on ml-100k without Items/Users metadata, same splits (Q2)",
        [
            "bench/trainer_quality.py",
            "--dataset",
            "ml-100k",
            "--models",
            "up-v2",
            "--features",
            "none",
            "--label",
            " (no metadata)",
        ],
    ),
    "trainer-mlsmall": (
        "Trainer quality on ml-latest-small (T1)",
        ["bench/trainer_quality.py", "--dataset", "ml-latest-small"],
    ),
    "trainer-amazon": (
        "Trainer quality on the Amazon sample (Q2)",
        ["bench/trainer_quality.py", "--dataset", "amazon-musical-instruments-5core"],
    ),
    "trainer-taobao": (
        "Trainer quality on the Taobao sample (Q2)",
        ["bench/trainer_quality.py", "--dataset", "taobao-userbehavior-sample"],
    ),
    "trainer-objective": (
        "optimizationObjective trade-off on ml-100k (Q2)",
        ["bench/trainer_quality.py", "--dataset", "ml-100k", "--objective", "YEAR"],
    ),
    "trainer-speed": ("Trainer epoch cost on 1,000,000 interactions (Q2)", ["bench/trainer_speed.py"]),
    "demo": ("Demo wall time (E1)", ["-m", "tailor_tools.cli", "demo", "--no-start"]),
}


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, Python {platform.python_version()}, {platform.platform()}"
    )


def replace_block(document: str, name: str, title: str, body: str) -> str:
    """``document`` with the run_all block ``name`` set to ``body`` (appended under ``title`` if absent)."""
    begin, end = f"<!-- run_all:{name} -->", f"<!-- /run_all:{name} -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(document):
        return pattern.sub(lambda _m: block, document, count=1)
    return document.rstrip("\n") + f"\n\n## {title}\n\n{block}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    chosen = [b for b in (args.only.split(",") if args.only else BENCHMARKS) if b]
    unknown = [b for b in chosen if b not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmarks {unknown}; choose from {', '.join(BENCHMARKS)}")
    document = args.out.read_text() if args.out.exists() else "# Benchmarks\n"
    for name in chosen:
        title, argv = BENCHMARKS[name]
        command = " ".join(["uv run python", *argv])
        print(f"== {title}: {command}", flush=True)
        started = time.monotonic()
        done = subprocess.run([sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        output = (
            done.stdout.strip()
            if done.returncode == 0
            else f"FAILED (exit {done.returncode}):\n\n```\n{done.stderr[-3000:]}\n```"
        )
        if name == "demo" and done.returncode == 0:
            lines = [ln for ln in done.stdout.splitlines() if ln.startswith("  ") and ln.rstrip().endswith(" s")][-8:]
            output = "```\n" + "\n".join(lines) + "\n```"
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        body = f"Measured {stamp} by `uv run python bench/run_all.py --only {name}` ({seconds:.0f} s): `{command}`\n"
        body += f"on {machine()}.\n\n{output}"
        document = replace_block(document, name, title, body)
        args.out.write_text(document)  # after each benchmark: a later failure loses nothing
        print(output, flush=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
