"""Authentication + authorisation cost per request on the runtime's path (ADR 0026), next to auth off.

    uv run python bench/auth_overhead.py              # ~1 minute
    uv run python bench/auth_overhead.py --calls 500 --runs 3

Two measurements, each in several runs:

* In-process CPU per call: the client's ``sign_call`` (botocore SigV4 over the serialized request), the
  server's ``GrpcAuth.check`` (SigV4 verification with the gateway's verifier + the principal's policies), and
  the policy evaluation alone, for a GetRecommendations request with a campaign and a filter, signed by the
  example shop application (``docs/examples/policies``: two statements, wildcard resources).
* A real runtime process, twice on the local stack under one prefix: ``TAILOR_AUTH_REQUIRED=0`` and the default (on),
  driven alternately by one synchronous client (unsigned / signed) with the same GetRecommendations request.
  The campaign does not exist, so each call runs the whole gRPC path, the interceptor and the handler's
  campaign lookup and returns ResourceNotFoundException: the difference between the two rows is what
  authentication and authorisation add to every request (client signing included), without a model's cost.
  Server CPU per call is read from /proc around each run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import harness

from tailor.runtime.v1 import runtime_pb2
from tailor_shared import arns
from tailor_shared.auth import Credential, CredentialStore, SigV4Verifier
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.grpc_auth import GrpcAuth, referenced_arns, sign_call
from tailor_shared.iam import Authorizer, action_of, request_resources
from tailor_tools import localstack
from tailor_tools.client import Client

ROOT = Path(__file__).resolve().parents[1]
POLICIES = ROOT / "docs" / "examples" / "policies" / "policies.yaml"
REGION, ACCOUNT = "us-east-1", "000000000000"
METHOD = "/tailor.runtime.v1.PersonalizeRuntime/GetRecommendations"
APP = Credential(
    "SHOPAPPACCESSKEY01", "shop-app-secret-0123456789", ACCOUNT, "arn:aws:iam::000000000000:role/shop-application"
)
CAMPAIGN = arns.campaign_arn(REGION, ACCOUNT, "shop-home")
FILTER = arns.filter_arn(REGION, ACCOUNT, "shop-in-stock")


def per_call_us(fn: Callable[[], object], calls: int) -> list[float]:
    out = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def row(label: str, runs: list[list[float]]) -> str:
    medians = [statistics.median(r) for r in runs]
    every = [v for r in runs for v in r]
    spread = ", ".join(f"{m:.0f}" for m in medians)
    median, p99 = statistics.median(every), harness.pct(every, 0.99)
    return f"| {label} | {len(runs)} x {len(runs[0])} | {median:.1f} | {p99:.1f} | {spread} |"


def in_process(calls: int, runs: int) -> str:
    auth = GrpcAuth(SigV4Verifier(CredentialStore([APP]), REGION), Authorizer.from_file(POLICIES))
    request = runtime_pb2.GetRecommendationsRequest(
        campaign_arn=CAMPAIGN, filter_arn=FILTER, user_id="u1", num_results=25
    )
    body = request.SerializeToString()
    principal = auth.authenticate(METHOD, sign_call(APP, REGION, METHOD, body), body)
    fields = {"campaign_arn": CAMPAIGN, "filter_arn": FILTER}
    signed = sign_call(APP, REGION, METHOD, body)
    cases: list[tuple[str, Callable[[], object]]] = [
        ("client: sign_call", lambda: sign_call(APP, REGION, METHOD, body)),
        ("server: verify + policies (GrpcAuth.check)", lambda: auth.check(METHOD, signed, body, request)),
        (
            "server: policies alone",
            lambda: auth.authorizer.check(
                principal,
                action_of("GetRecommendations"),
                request_resources("GetRecommendations", fields, REGION, ACCOUNT),
                referenced_arns(request),
            ),
        ),
    ]
    lines = ["| step | runs x calls | median µs | p99 µs | per-run medians µs |", "|---|---:|---:|---:|---|"]
    for label, fn in cases:
        lines.append(row(label, [per_call_us(fn, calls) for _ in range(runs)]))
        print(lines[-1], file=sys.stderr, flush=True)
    return "\n".join(lines)


def end_to_end(calls: int, runs: int) -> str:
    cfg = localstack.StackConfig.from_env()
    prefix = f"bench-s2-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        creds = work / "credentials.yaml"
        creds.write_text(
            "credentials:\n"
            f"  - {{access_key_id: {APP.access_key_id}, secret_access_key: {APP.secret_access_key},"
            f" account_id: '{ACCOUNT}', principal: '{APP.principal_arn}'}}\n"
        )
        env = {
            "TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
            "TAILOR_REDIS_URL": cfg.redis_url,
            "TAILOR_TOPIC_PREFIX": prefix,
            "TAILOR_MODEL_STORE": str(work / "models"),
        }
        off = harness.start_service("runtime", env, work, "-off", TAILOR_AUTH_REQUIRED="0")  # the explicit opt-out
        on = harness.start_service(
            "runtime",
            env,
            work,
            "-on",
            TAILOR_CREDENTIALS_FILE=str(creds),
            TAILOR_POLICIES_FILE=str(POLICIES),
        )
        try:
            harness.wait_serving(off)
            harness.wait_serving(on)
            clients = {
                "auth off (unsigned)": (off, Client(off.address, "runtime", signed=False)),
                "auth on (signed, shop application's policies)": (
                    on,
                    Client(on.address, "runtime", credential=APP, region=REGION),
                ),
            }
            latencies: dict[str, list[list[float]]] = {k: [] for k in clients}
            cpu: dict[str, list[float]] = {k: [] for k in clients}

            def once(client: Client) -> None:
                try:
                    client.call("GetRecommendations", campaignArn=CAMPAIGN, filterArn=FILTER, userId="u1")
                except ResourceNotFoundException:
                    return
                raise AssertionError("the benchmark's campaign exists")

            def caller(client: Client) -> Callable[[], None]:
                return lambda: once(client)

            for _svc, client in clients.values():
                per_call_us(caller(client), 50)  # warm-up: connections, caches
            for _ in range(runs):
                for label, (svc, client) in clients.items():  # alternate, so load drift hits both alike
                    before = svc.cpu()
                    latencies[label].append(per_call_us(caller(client), calls))
                    cpu[label].append((svc.cpu() - before) / calls * 1e6)
            for _svc, client in clients.values():
                client.close()
        finally:
            off.stop()
            on.stop()
            localstack.purge_prefix(cfg, prefix)
    lines = [
        "| runtime | runs x calls | median µs | p99 µs | per-run medians µs | server CPU µs/call (median of runs) |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for label in latencies:
        lines.append(row(label, latencies[label]) + f" {statistics.median(cpu[label]):.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print("### In-process cost per call\n")
    print(in_process(args.calls, args.runs))
    print("\n### A runtime process, auth off and on (GetRecommendations of a missing campaign)\n")
    print(end_to_end(args.calls, args.runs))


if __name__ == "__main__":
    main()
