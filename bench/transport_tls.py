"""What encryption in transit costs (ADR 0027): a gRPC call and a Redis round trip, plaintext vs TLS, side by side.

    uv run python bench/transport_tls.py [--calls 2000] [--rounds 5]

gRPC: one ``start_server`` (the services' bootstrap) per mode on loopback, serving the health service; a client
on one long-lived channel makes sequential calls (latency per call, and server+client CPU per call, both in this
process), and new channels are opened to time connection set-up (TCP + HTTP/2, + the TLS handshake). Redis: two
``redis-server`` processes started by the local stack's code on free ports, one plain and one TLS-only with an ACL
user (the secure stack's), each asked ``GET`` on one connection. The modes alternate round by round, so load
changes hit both; medians over rounds of each round's p50 / p99 are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import resource
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import harness
import redis
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor_shared.config import CommonSettings
from tailor_shared.grpc_client import aio_channel
from tailor_shared.grpc_server import start_server
from tailor_shared.tls import TlsSettings
from tailor_tools import devpki, localstack
from tailor_tools.ports import free_port


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _timed(call: Callable[[], Awaitable[object]], n: int) -> tuple[list[float], float]:
    samples: list[float] = []
    cpu = _cpu()
    for _ in range(n):
        start = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - start)
    return samples, (_cpu() - cpu) / n


def _row(what: str, stats: dict[str, list[float]], connect: str) -> str:
    p50, p99, cpu = (statistics.median(stats[k]) for k in ("p50", "p99", "cpu"))
    return f"| {what} | {p50 * 1e3:.3f} | {p99 * 1e3:.3f} | {cpu * 1e6:.0f} | {connect} |"


async def grpc_rows(pki: devpki.DevPki, calls: int, rounds: int, connects: int) -> list[str]:
    modes = {"plaintext": (TlsSettings(), TlsSettings()), "TLS": (TlsSettings.from_env(pki.grpc_env()),) * 2}
    handles = {
        m: await start_server(CommonSettings(service="bench", grpc_port=0, tls=s), []) for m, (s, _) in modes.items()
    }
    stats: dict[str, dict[str, list[float]]] = {m: {"p50": [], "p99": [], "cpu": [], "connect": []} for m in modes}
    request = health_pb2.HealthCheckRequest()
    try:
        for _ in range(rounds):
            for mode, (_server, client_tls) in modes.items():
                address = f"127.0.0.1:{handles[mode].port}"
                async with aio_channel(address, tls=client_tls) as channel:
                    check = health_pb2_grpc.HealthStub(channel).Check
                    await check(request)  # connect first
                    samples, cpu = await _timed(functools.partial(check, request), calls)
                stats[mode]["p50"].append(harness.pct(samples, 0.5))
                stats[mode]["p99"].append(harness.pct(samples, 0.99))
                stats[mode]["cpu"].append(cpu)
                connect_times = []
                for _ in range(connects):
                    start = time.perf_counter()
                    async with aio_channel(address, tls=client_tls) as fresh:
                        await health_pb2_grpc.HealthStub(fresh).Check(request)
                    connect_times.append(time.perf_counter() - start)
                stats[mode]["connect"].append(statistics.median(connect_times))
    finally:
        for handle in handles.values():
            await handle.stop(0)
    return [
        _row(f"gRPC health Check, {mode}", s, f"{statistics.median(s['connect']) * 1e3:.2f}")
        for mode, s in stats.items()
    ]


def redis_rows(state: Path, calls: int, rounds: int) -> list[str]:
    plain = localstack.StackConfig(state_dir=state / "plain", redis_port=free_port())
    secure = localstack.StackConfig(state_dir=state / "tls", redis_port=free_port(), tls=True)
    stats: dict[str, dict[str, list[float]]] = {m: {"p50": [], "p99": [], "cpu": []} for m in ("plaintext", "TLS")}
    try:
        localstack.start_redis(plain)
        localstack.start_redis(secure)
        clients = {"plaintext": redis.Redis.from_url(plain.redis_url), "TLS": redis.Redis.from_url(secure.redis_url)}
        for client in clients.values():
            client.set("bench:key", "x" * 100)
        for _ in range(rounds):
            for mode, client in clients.items():
                samples: list[float] = []
                cpu = _cpu()
                for _ in range(calls):
                    start = time.perf_counter()
                    client.get("bench:key")
                    samples.append(time.perf_counter() - start)
                stats[mode]["cpu"].append((_cpu() - cpu) / calls)
                stats[mode]["p50"].append(harness.pct(samples, 0.5))
                stats[mode]["p99"].append(harness.pct(samples, 0.99))
        for client in clients.values():
            client.close()
    finally:
        for cfg in (plain, secure):
            localstack.stop_process(cfg, "redis")
    return [_row(f"Redis GET (100 B), {mode}", s, "n/a") for mode, s in stats.items()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per mode per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--connects", type=int, default=30, help="new channels per mode per round")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="tailor-bench-tls-"))
    try:
        pki = devpki.ensure(state / "pki")
        with open("/proc/loadavg") as f:
            load_before = f.read().split()[:3]
        rows = asyncio.run(grpc_rows(pki, args.calls, args.rounds, args.connects))
        rows += redis_rows(state, args.calls, args.rounds)
        with open("/proc/loadavg") as f:
            load_after = f.read().split()[:3]
    finally:
        shutil.rmtree(state, ignore_errors=True)
    print(
        f"{args.rounds} alternating rounds of {args.calls:,} sequential calls per mode on one connection (medians of"
        f" the rounds' p50 / p99); CPU = this process's (client, and the gRPC server) per call; connect = a new channel"
        f" and its first call, median of {args.connects} per round. Load average before {' '.join(load_before)},"
        f" after {' '.join(load_after)}.\n"
    )
    print("| what | p50 ms | p99 ms | CPU µs / call | connect ms |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
