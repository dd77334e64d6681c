"""``tailor``: the project's command line (local stack, running services).

Examples::

    tailor local up          # start Kafka (KRaft) + Redis under .tailor/, wait until ready
    tailor local status      # PID, address and readiness of each component
    tailor local logs kafka  # tail a component's log
    tailor local down        # stop them by PID
    tailor serve control     # run one service in the foreground (same as python -m tailor_control)
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from tailor_shared import localstack

SERVICES = ("control", "ingest", "stream", "trainer", "runtime")


def _cmd_local(args: argparse.Namespace) -> int:
    cfg = localstack.StackConfig.from_env()
    if args.action == "up":
        start = time.monotonic()
        try:
            result = localstack.up(cfg)
        except localstack.StackError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for name, what in result.items():
            print(f"{name:6} {what}")
        print(f"kafka  {cfg.kafka_bootstrap}\nredis  {cfg.redis_url}\nready in {time.monotonic() - start:.1f}s")
        return 0
    if args.action == "down":
        for name, what in localstack.down(cfg).items():
            print(f"{name:6} {what}")
        return 0
    if args.action == "status":
        ok = True
        for comp in localstack.status(cfg):
            ok &= comp.ready
            pid = comp.pid if comp.pid is not None else "-"
            print(f"{comp.name:6} pid={pid!s:8} {comp.address:28} {'ready' if comp.ready else 'DOWN'}")
        return 0 if ok else 3
    if args.action == "logs":
        print(localstack.logs(cfg, args.component, args.lines))
        return 0
    raise AssertionError(args.action)


def _cmd_serve(args: argparse.Namespace) -> int:
    module = f"tailor_{args.service}"
    os.execvp(sys.executable, [sys.executable, "-m", module])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tailor",
        description="Tailor: a self-hosted, real-time recommender with Amazon Personalize's semantics.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser(
        "local",
        help="run the local stack (Apache Kafka KRaft broker + Redis) as processes",
        description="Manage the local stack. Settings: TAILOR_STATE_DIR (default .tailor/ in the repo), "
        "TAILOR_KAFKA_PORT (9092), TAILOR_KAFKA_CONTROLLER_PORT (9093), TAILOR_REDIS_PORT (6379), "
        "TAILOR_KAFKA_HEAP (512m).",
    )
    local.add_argument("action", choices=["up", "down", "status", "logs"], help="what to do")
    local.add_argument("component", nargs="?", default="kafka", help="for logs: kafka or redis")
    local.add_argument("-n", "--lines", type=int, default=50, help="for logs: how many lines")
    local.set_defaults(func=_cmd_local)
    serve = sub.add_parser("serve", help="run one service in the foreground", description="Run one service.")
    serve.add_argument("service", choices=SERVICES)
    serve.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
