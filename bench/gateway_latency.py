"""The AWS gateway's cost: GetRecommendations through the gateway with SigV4-signed requests vs direct gRPC, in
the same run, against the same backend.

Loopback only, bounded in time (about a minute; ``--with-runtime`` adds the real runtime, several minutes more).
Everything shares the machine: the load client, the gateway and the backend.

    uv run python bench/gateway_latency.py                 # echo backend
    uv run python bench/gateway_latency.py --with-runtime  # also the real runtime (UP-v2, 10,000 items)

What runs:

* Backend ``echo``: a bare grpc.aio server (a child process of this script) answering every GetRecommendations
  with a prebuilt 25-item response: what is left of a request's latency is the client, the gateway and the
  transport, so the difference between the two paths is the gateway's own cost.
* Backend ``runtime`` (``--with-runtime``): the real runtime serving a UP-v2 campaign on a 10,000-item catalogue
  with real-time histories, built by ``bench/runtime_latency.py``'s world.
* ``python -m tailor_gateway`` (one process, uvicorn + httptools + uvloop) in front of the backend, verifying
  every signature against the development credential.
* ``direct``: a grpc.aio client, ``concurrency`` tasks over min(concurrency, 4) channels.
* ``gateway``: the same requests as personalize-runtime's REST-JSON ``POST /recommendations``, each signed with
  botocore's SigV4 signer exactly as boto3 signs it (signed once per user before the run: a signature stays
  valid for 15 minutes and the gateway verifies it on every request), sent over one keep-alive HTTP/1.1
  connection per task by a minimal asyncio client (so the client's own cost stays small, as gRPC's does).
* Closed loop: each task sends its next request when the last one returned. Latency is measured by the client.
  CPU columns are CPU microseconds per request of the gateway and of the backend, from /proc.
* In-process: microseconds per request of the gateway's pure steps (SigV4 verification; request JSON ->
  protobuf with botocore validation; protobuf -> response JSON).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from harness import Proc, pct, proc_cpu, start_service

from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_tools.client import aio_channel
from tailor_tools.identity import default_credential
from tailor_tools.ports import free_port

REGION = "us-east-1"
NUM_RESULTS = 25
USERS = 300
ECHO_CAMPAIGN = "arn:aws:personalize:us-east-1:000000000000:campaign/bench-echo"


# --- the echo backend (a child process) ------------------------------------------------------------------------


class Echo(runtime_pb2_grpc.PersonalizeRuntimeServicer):
    def __init__(self) -> None:
        self._response = runtime_pb2.GetRecommendationsResponse(
            item_list=[
                runtime_pb2.PredictedItem(item_id=f"item-{i:05d}", score=0.000123 * (NUM_RESULTS - i))
                for i in range(NUM_RESULTS)
            ],
            recommendation_id=f"RID-{uuid.uuid4()}",
        )

    async def GetRecommendations(
        self, request: runtime_pb2.GetRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetRecommendationsResponse:
        return self._response

    async def GetPersonalizedRanking(
        self, request: runtime_pb2.GetPersonalizedRankingRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetPersonalizedRankingResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")
        raise AssertionError

    async def GetActionRecommendations(
        self, request: runtime_pb2.GetActionRecommendationsRequest, context: grpc.aio.ServicerContext
    ) -> runtime_pb2.GetActionRecommendationsResponse:
        await context.abort(grpc.StatusCode.UNIMPLEMENTED, "not part of the benchmark")
        raise AssertionError


def serve_echo(port: int) -> None:
    async def main() -> None:
        server = grpc.aio.server()
        runtime_pb2_grpc.add_PersonalizeRuntimeServicer_to_server(Echo(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(1)

    asyncio.run(main())


# --- the HTTP stacks compared (``--http-stacks``): the same fixed reply, no gateway logic --------------------------

_FIXED = json.dumps(
    {
        "itemList": [{"itemId": f"item-{i:05d}", "score": 0.000123 * i} for i in range(NUM_RESULTS)],
        "recommendationId": "RID-x",
    }
).encode()


def serve_stack(stack: str, port: int) -> None:
    """A server that reads the POST body and answers the fixed 25-item JSON: the HTTP stack's own cost."""
    if stack == "aiohttp":
        from aiohttp import web

        async def handle(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(body=_FIXED, content_type="application/json")

        web_app = web.Application()
        web_app.router.add_post("/recommendations", handle)
        import uvloop

        uvloop.install()
        web.run_app(web_app, host="127.0.0.1", port=port, access_log=None, print=None)
        return
    import uvicorn

    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(_FIXED)).encode())]

    async def app(scope: dict[str, Any], receive: Callable[[], Any], send: Callable[[dict[str, Any]], Any]) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": _FIXED})

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )


def http_stacks(levels: Sequence[int], args: argparse.Namespace) -> list[str]:
    rows = ["| HTTP stack | concurrency | req/s | p50 ms | p99 ms | server CPU µs/req |", "|---|---|---|---|---|---|"]
    body = json.dumps({"campaignArn": ECHO_CAMPAIGN, "userId": "u", "numResults": NUM_RESULTS}).encode()
    for stack in ("uvicorn", "aiohttp"):
        port = free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve-stack", stack, str(port)])
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{stack} did not start") from None
                    time.sleep(0.1)
            request = (
                f"POST /recommendations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            for concurrency in levels:

                def cpu(pid: int = server.pid) -> tuple[float, float]:
                    return proc_cpu(pid), 0.0

                n, errors, elapsed, lat, scpu, _ = asyncio.run(
                    drive_http(f"127.0.0.1:{port}", [request], concurrency, args, cpu)
                )
                rows.append(
                    f"| {stack} | {concurrency} | {n / elapsed:,.0f} | {pct(lat, 0.5) * 1e3:.3f} | "
                    f"{pct(lat, 0.99) * 1e3:.3f} | {scpu:.0f} |"
                )
                print(f"  {stack:<8} c={concurrency:<3} {n / elapsed:8.0f} req/s errors {errors}", flush=True)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(30)
    return rows


# --- requests --------------------------------------------------------------------------------------------------


def grpc_requests(campaign: str, users: Sequence[str]) -> list[runtime_pb2.GetRecommendationsRequest]:
    return [
        runtime_pb2.GetRecommendationsRequest(campaign_arn=campaign, user_id=u, num_results=NUM_RESULTS) for u in users
    ]


def signed_http_requests(address: str, campaign: str, users: Sequence[str]) -> list[bytes]:
    """Each user's POST /recommendations as boto3 sends it: JSON body, SigV4 with the development identity."""
    dev = default_credential()
    credentials = Credentials(dev.access_key_id, dev.secret_access_key)
    out = []
    for user in users:
        body = json.dumps({"campaignArn": campaign, "userId": user, "numResults": NUM_RESULTS}).encode()
        request = AWSRequest(
            method="POST",
            url=f"http://{address}/recommendations",
            data=body,
            headers={"Content-Type": "application/json", "Host": address},
        )
        SigV4Auth(credentials, "personalize", REGION).add_auth(request)
        head = "".join(f"{k}: {v}\r\n" for k, v in request.headers.items())
        out.append(
            f"POST /recommendations HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
        )
    return out


# --- load ------------------------------------------------------------------------------------------------------


@dataclass
class Result:
    path: str
    backend: str
    concurrency: int
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    gateway_cpu_us: float
    backend_cpu_us: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


async def _closed_loop(
    workers: Sequence[Callable[[int], Any]], seconds: float, warmup: float, cpu: Callable[[], tuple[float, float]]
) -> tuple[int, int, float, list[float], float, float]:
    latencies: list[float] = []
    errors = [0]
    state = {"recording": False, "stop": False}

    async def loop(i: int, call: Callable[[int], Any]) -> None:
        n = i * 7919
        while not state["stop"]:
            t = time.perf_counter()
            try:
                ok = await call(n)
            except (grpc.aio.AioRpcError, OSError, asyncio.IncompleteReadError):
                ok = False
            n += 1
            if not state["recording"]:
                continue
            if ok:
                latencies.append(time.perf_counter() - t)
            else:
                errors[0] += 1

    tasks = [asyncio.create_task(loop(i, w)) for i, w in enumerate(workers)]
    await asyncio.sleep(warmup)
    g0, b0 = cpu()
    state["recording"] = True
    t0 = time.perf_counter()
    await asyncio.sleep(seconds)
    state["recording"] = False
    elapsed = time.perf_counter() - t0
    g1, b1 = cpu()
    state["stop"] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    n = max(len(latencies), 1)
    return len(latencies), errors[0], elapsed, latencies, (g1 - g0) / n * 1e6, (b1 - b0) / n * 1e6


async def drive_grpc(
    address: str,
    reqs: Sequence[runtime_pb2.GetRecommendationsRequest],
    concurrency: int,
    args: argparse.Namespace,
    cpu: Callable[[], tuple[float, float]],
) -> tuple[int, int, float, list[float], float, float]:
    channels = [
        aio_channel(address, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(min(concurrency, 4))
    ]
    for c in channels:
        await asyncio.wait_for(c.channel_ready(), 10)
    stubs = [runtime_pb2_grpc.PersonalizeRuntimeStub(c) for c in channels]

    def worker(i: int) -> Callable[[int], Any]:
        call = stubs[i % len(stubs)].GetRecommendations

        async def one(n: int) -> bool:
            await call(reqs[n % len(reqs)], timeout=10)
            return True

        return one

    try:
        return await _closed_loop([worker(i) for i in range(concurrency)], args.seconds, args.warmup, cpu)
    finally:
        for c in channels:
            await c.close()


async def drive_http(
    address: str,
    reqs: Sequence[bytes],
    concurrency: int,
    args: argparse.Namespace,
    cpu: Callable[[], tuple[float, float]],
) -> tuple[int, int, float, list[float], float, float]:
    host, port = address.rsplit(":", 1)
    conns = [await asyncio.open_connection(host, int(port)) for _ in range(concurrency)]

    def worker(i: int) -> Callable[[int], Any]:
        reader, writer = conns[i]

        async def one(n: int) -> bool:
            writer.write(reqs[n % len(reqs)])
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            return head.startswith(b"HTTP/1.1 200")

        return one

    try:
        return await _closed_loop([worker(i) for i in range(concurrency)], args.seconds, args.warmup, cpu)
    finally:
        for _reader, writer in conns:
            writer.close()


def run_cell(
    path: str,
    backend: str,
    concurrency: int,
    address: str,
    reqs: Any,
    args: argparse.Namespace,
    gateway: Proc,
    backend_pids: Callable[[], list[int]],
) -> Result:
    def cpu() -> tuple[float, float]:
        return gateway.cpu(), sum(proc_cpu(p) for p in backend_pids())

    drive = drive_grpc if path == "direct" else drive_http
    n, errors, elapsed, lat, gcpu, bcpu = asyncio.run(drive(address, reqs, concurrency, args, cpu))
    result = Result(path, backend, concurrency, n, errors, elapsed, lat, gcpu if path == "gateway" else 0.0, bcpu)
    print(
        f"  {backend:<8} {path:<8} c={concurrency:<3} {result.rps:8.0f} req/s  p50 {pct(lat, 0.5) * 1e3:6.3f} ms  "
        f"p99 {pct(lat, 0.99) * 1e3:6.3f} ms  errors {errors}",
        flush=True,
    )
    if errors:
        raise SystemExit(f"{errors} failed requests on {path}; gateway log:\n{gateway.log.read_text()[-3000:]}")
    return result


# --- in-process costs of the pure steps --------------------------------------------------------------------------


def step_costs(signed: bytes, address: str) -> dict[str, float]:
    from tailor_gateway.adapters import load_models
    from tailor_gateway.domain.operations import build_router
    from tailor_shared.auth import CredentialStore, SigV4Verifier

    head, _, body = signed.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")[1:]
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    verifier = SigV4Verifier(CredentialStore([default_credential()]), REGION)
    router = build_router(load_models())
    op = router.for_path("/recommendations")
    assert op is not None
    reply = Echo()._response

    def timed(fn: Callable[[], object], n: int = 3000) -> float:
        fn()
        t = time.perf_counter()
        for _ in range(n):
            fn()
        return (time.perf_counter() - t) / n * 1e6

    return {
        "SigV4 verification": timed(lambda: verifier.verify("POST", b"/recommendations", b"", headers, body)),
        "request JSON -> protobuf (botocore validation)": timed(lambda: op.request(json.loads(body))),
        "protobuf -> response JSON": timed(lambda: json.dumps(op.response(reply)).encode()),
    }


# --- main ------------------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--concurrency", default="1,16")
    parser.add_argument("--rounds", type=int, default=3, help="direct/gateway pairs per cell; medians reported")
    parser.add_argument("--with-runtime", action="store_true", help="also against the real runtime (minutes more)")
    parser.add_argument("--http-stacks", action="store_true", help="also compare uvicorn and aiohttp bare")
    parser.add_argument("--serve-echo", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--serve-stack", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_echo:
        serve_echo(args.serve_echo)
        return
    if args.serve_stack:
        serve_stack(args.serve_stack[0], int(args.serve_stack[1]))
        return
    levels = [int(c) for c in args.concurrency.split(",")]
    workdir = Path(tempfile.mkdtemp(prefix="bench-gateway-"))
    results: list[Result] = []

    # Echo backend.
    echo_port = free_port()
    echo = subprocess.Popen([sys.executable, __file__, "--serve-echo", str(echo_port)])
    users = [f"user-{i}" for i in range(USERS)]
    gateway = start_gateway(workdir, f"127.0.0.1:{echo_port}", "-echo")
    try:
        results += measure(
            "echo", f"127.0.0.1:{echo_port}", ECHO_CAMPAIGN, users, gateway, lambda: [echo.pid], levels, args
        )
        costs = step_costs(signed_http_requests(gateway.address, ECHO_CAMPAIGN, users[:1])[0], gateway.address)
    finally:
        gateway.stop()
        echo.send_signal(signal.SIGTERM)
        echo.wait(30)

    if args.with_runtime:
        results += with_runtime(workdir, levels, args)
    stacks = http_stacks(levels, args) if args.http_stacks else []

    print(report(results, costs, args))
    if stacks:
        print("\nThe HTTP stack alone (a fixed 25-item JSON reply to the same POST, same client):\n")
        print("\n".join(stacks))


def start_gateway(workdir: Path, runtime_address: str, tag: str) -> Proc:
    gateway = start_service("gateway", {}, workdir, tag, TAILOR_GATEWAY_RUNTIME_ADDRESS=runtime_address)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{gateway.address}/health", timeout=1):
                return gateway
        except OSError:
            if time.monotonic() > deadline or gateway.proc.poll() is not None:
                raise SystemExit(f"the gateway did not start:\n{gateway.log.read_text()[-3000:]}") from None
            time.sleep(0.1)


def measure(
    backend: str,
    backend_address: str,
    campaign: str,
    users: Sequence[str],
    gateway: Proc,
    backend_pids: Callable[[], list[int]],
    levels: Sequence[int],
    args: argparse.Namespace,
) -> list[Result]:
    out = []
    for concurrency in [c for _round in range(args.rounds) for c in levels]:
        # Alternate the two paths so that drift of this shared machine hits both alike; signatures made fresh.
        out.append(
            run_cell(
                "direct",
                backend,
                concurrency,
                backend_address,
                grpc_requests(campaign, users),
                args,
                gateway,
                backend_pids,
            )
        )
        signed = signed_http_requests(gateway.address, campaign, users)
        out.append(run_cell("gateway", backend, concurrency, gateway.address, signed, args, gateway, backend_pids))
    return out


def with_runtime(workdir: Path, levels: Sequence[int], args: argparse.Namespace) -> list[Result]:
    import runtime_latency

    from tailor_tools import localstack

    stack = localstack.StackConfig.from_env()
    localstack.up(stack)
    world = runtime_latency.build_world(stack, argparse.Namespace(users=1000, items=10000, seed=7), workdir)
    runtime = world.services["runtime"]
    gateway = start_gateway(workdir, runtime.address, "-runtime")
    users = [str(u["USER_ID"]) for u in world.data.users[: runtime_latency.HISTORY_USERS]]
    try:
        return measure("runtime", runtime.address, world.campaign, users, gateway, runtime.pids, levels, args)
    finally:
        gateway.stop()
        runtime_latency.cleanup(world)


def _median(values: Sequence[float]) -> float:
    return pct(values, 0.5)


def report(results: list[Result], costs: dict[str, float], args: argparse.Namespace) -> str:
    lines = [
        f"{args.rounds} rounds of {args.seconds:.0f} s per cell after {args.warmup:.0f} s warm-up, the two paths "
        "alternating; medians over the rounds. GetRecommendations, numResults 25; one gateway process; latency "
        f"measured by the client; load average at the end {os.getloadavg()[0]:.2f}.",
        "",
        "| backend | path | concurrency | req/s | p50 ms | p99 ms | gateway CPU µs/req | backend CPU µs/req |",
        "|---|---|---|---|---|---|---|---|",
    ]
    cells: dict[tuple[str, str, int], list[Result]] = {}
    for r in results:
        cells.setdefault((r.backend, r.path, r.concurrency), []).append(r)
    for (backend, path, concurrency), rs in cells.items():
        gateway_cpu = f"{_median([r.gateway_cpu_us for r in rs]):.0f}" if path == "gateway" else "-"
        lines.append(
            f"| {backend} | {path} | {concurrency} | {_median([r.rps for r in rs]):,.0f} | "
            f"{_median([pct(r.latencies, 0.5) for r in rs]) * 1e3:.3f} | "
            f"{_median([pct(r.latencies, 0.99) for r in rs]) * 1e3:.3f} | {gateway_cpu} | "
            f"{_median([r.backend_cpu_us for r in rs]):.0f} |"
        )
    lines += [
        "",
        "| backend | concurrency | added p50 ms | added p99 ms | gateway / direct throughput (each round) |",
        "|---|---|---|---|---|",
    ]
    for backend, _path, concurrency in [k for k in cells if k[1] == "direct"]:
        direct, gateway = cells[(backend, "direct", concurrency)], cells.get((backend, "gateway", concurrency), [])
        pairs = list(zip(direct, gateway, strict=False))
        if not pairs:
            continue
        p50 = _median([(pct(g.latencies, 0.5) - pct(d.latencies, 0.5)) * 1e3 for d, g in pairs])
        p99 = _median([(pct(g.latencies, 0.99) - pct(d.latencies, 0.99)) * 1e3 for d, g in pairs])
        ratios = [g.rps / d.rps for d, g in pairs]
        each = ", ".join(f"{r:.0%}" for r in ratios)
        lines.append(f"| {backend} | {concurrency} | {p50:+.3f} | {p99:+.3f} | {_median(ratios):.0%} ({each}) |")
    lines += ["", "| gateway step, in process | µs per request |", "|---|---|"]
    lines += [f"| {name} | {us:.1f} |" for name, us in costs.items()]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
