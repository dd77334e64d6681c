"""``tailor``: the project's command line (local stack, running services).

Examples::

    tailor local up          # start Kafka (KRaft) + Redis under .tailor/, wait until ready
    tailor local status      # PID, address and readiness of each component
    tailor local logs kafka  # tail a component's log
    tailor local down        # stop them by PID
    tailor local storage     # what each dataset group stores: topic records and bytes, Redis keys and memory
    tailor local purge test  # delete the topics, consumer groups and Redis keys under a topic prefix
    tailor local up --with-services   # ... and the five services as processes
    tailor local up --cluster         # 3 Kafka nodes (RF 3, min ISR 2) + Redis primary/replica/Sentinels
    tailor demo              # the whole flow with generated data, progress bars, live events
    tailor serve control     # run one service in the foreground (same as python -m tailor_control)
    tailor kafka-account 111122223333 --password-file acct.pw   # an account's Kafka user + its groups' ACLs
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from tailor_shared.config import DEFAULT_PORTS, CommonSettings
from tailor_shared.errors import PersonalizeError
from tailor_shared.logs import redact
from tailor_shared.tls import TlsSettings
from tailor_tools import localstack

SERVICES = localstack.SERVICES


def _cmd_cluster(action: str) -> int:
    """``tailor local up|down|status --cluster``: the multi-node stack beside the single node (ADR 0025)."""
    from tailor_tools import cluster

    cfg = cluster.ClusterConfig.from_env()
    if action == "up":
        start = time.monotonic()
        try:
            result = cluster.up(cfg)
        except localstack.StackError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for name, what in result.items():
            print(f"{name:6} {what}")
        print(f"ready in {time.monotonic() - start:.1f}s; run services against it with:")
    elif action == "down":
        for name, what in cluster.down(cfg).items():
            print(f"{name:20} {what}")
        return 0
    elif action != "status":
        print(f"error: {action} does not take --cluster", file=sys.stderr)
        return 2
    for name, value in cluster.service_env(cfg).items():
        print(f"export {name}={value}")
    return 0 if action == "up" or cluster.ready(cfg) else 3


def _cmd_local(args: argparse.Namespace) -> int:
    if args.cluster:
        return _cmd_cluster(args.action)
    cfg = localstack.StackConfig.from_env()
    if args.tls:
        cfg = replace(cfg, tls=True)
    if args.action == "up":
        start = time.monotonic()
        try:
            result = localstack.up(cfg)
            if args.with_services:
                result.update(localstack.start_services(cfg))
        except localstack.StackError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        for name, what in result.items():
            print(f"{name:6} {what}")
        print(f"kafka  {cfg.kafka_bootstrap}\nredis  {redact(cfg.redis_url)}\nready in {time.monotonic() - start:.1f}s")
        if cfg.tls:
            # What a client of the secure stack needs, the passwords read from their owner-only files (never printed).
            env = {"TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap, **cfg.kafka_env(), "TAILOR_REDIS_URL": cfg.redis_url}
            env.update(cfg.pki.grpc_env())
            secrets = {
                localstack.dev_secret(cfg, n): cfg.state_dir / "tls" / f"{n}.password" for n in ("kafka", "redis")
            }
            for name, value in env.items():
                for secret, path in secrets.items():
                    value = value.replace(secret, f"$(cat {path})")
                print(f'export {name}="{value}"')
        return 0
    if args.action == "down":
        for name, what in {**localstack.stop_services(cfg), **localstack.down(cfg)}.items():
            print(f"{name:6} {what}")
        return 0
    if args.action == "status":
        ok = True
        for comp in [*localstack.status(cfg), *localstack.service_status(cfg)]:
            ok &= comp.ready
            pid = comp.pid if comp.pid is not None else "-"
            print(f"{comp.name:6} pid={pid!s:8} {redact(comp.address):28} {'ready' if comp.ready else 'DOWN'}")
        return 0 if ok else 3
    if args.action == "logs":
        print(localstack.logs(cfg, args.component or "kafka", args.lines))
        return 0
    if args.action == "credentials":
        # For `eval "$(tailor local credentials)"`: the user asked for the secret on their own terminal.
        from tailor_tools import identity

        dev = identity.ensure(cfg.state_dir).credential
        print(f"export AWS_ACCESS_KEY_ID={dev.access_key_id} AWS_SECRET_ACCESS_KEY={dev.secret_access_key}")
        print(f"export AWS_DEFAULT_REGION={os.environ.get('TAILOR_REGION') or 'us-east-1'}")
        return 0
    if args.action == "storage":
        from tailor_tools import usage

        prefix = args.component or CommonSettings.from_env("tools", 0, 0).topic_prefix
        rows = usage.dataset_group_usage(cfg, prefix)
        print(f"{'dataset group':40} {'records':>10} {'topic bytes':>12} {'redis keys':>10} {'redis memory':>12}")
        for row in rows:
            print(
                f"{row.name:40} {row.records:>10} {usage.human(row.topic_bytes):>12} {row.redis_keys:>10} "
                f"{usage.human(row.redis_bytes):>12}"
            )
        if not rows:
            print(f"(no dataset groups under the prefix {prefix})")
        return 0
    if args.action == "purge":
        if args.component is None:
            print("error: say which topic prefix to purge, e.g. `tailor local purge test`", file=sys.stderr)
            return 2
        purged = localstack.purge_prefix(cfg, args.component)
        print(f"purged {args.component}: {purged.topics} topics, {purged.groups} consumer groups, {purged.keys} keys")
        return 0
    raise AssertionError(args.action)


def _cmd_demo(args: argparse.Namespace) -> int:
    from tailor_tools import demo

    cfg = localstack.StackConfig.from_env()
    if not args.no_start:
        localstack.up(cfg)
        localstack.start_services(cfg)
    tls = None
    if cfg.tls:  # a --tls stack (ADR 0027): its Kafka user for the training progress, its CA for every client
        for name, value in cfg.kafka_env().items():
            os.environ.setdefault(name, value)
        tls = TlsSettings(ca_file=str(cfg.pki.ca_cert))
    settings = CommonSettings.from_env("demo", 0, 0)
    gateway_port = os.environ.get("TAILOR_GATEWAY_PORT") or str(DEFAULT_PORTS["gateway"][0])
    gateway = f"{'https' if tls else 'http'}://127.0.0.1:{gateway_port}"
    outcome = demo.run(
        args.data,
        cfg.state_dir / "demo",
        status_topic=(settings.kafka_bootstrap, settings.topic_prefix),
        gateway=gateway,
        tls=tls,
    )
    print("\nTimings:")
    for name, seconds in outcome.timings.steps:
        print(f"  {name:<42} {seconds:8.2f} s")
    print(f"\nWeb console: {gateway}/console/ (sign in with the key `uv run tailor local credentials` prints)")
    return 0


def _cmd_capacity(args: argparse.Namespace) -> int:
    """The runtime replicas the deployment's provisioned throughput needs (ADR 0023)."""
    from tailor_shared import capacity, storage

    settings = CommonSettings.from_env("capacity", 0, 0)
    with storage.records(settings.kafka_bootstrap, settings.topic_prefix) as view:
        resources = [*view.list("campaign"), *view.list("recommender")]
    held = capacity.provisioned(resources)
    replicas = capacity.min_replicas(held.total_tps, args.replica_tps, args.floor)
    for arn, tps in sorted(held.by_resource.items()):
        print(f"{tps:>8}  {arn}")
    print(f"provisioned: {held.total_tps} requests/s; one runtime replica serves {args.replica_tps:g}/s")
    print(f"runtime minReplicas: {replicas}")
    print(f'  kubectl -n tailor patch hpa runtime -p \'{{"spec":{{"minReplicas":{replicas}}}}}\'')
    return 0


def _cmd_kafka_account(args: argparse.Namespace) -> int:
    """An account's Kafka user for its direct producers and WRITE/DESCRIBE on its live dataset groups' topics
    (ADR 0034), on the broker of TAILOR_KAFKA_* as Tailor's own (super) user. The password is read from
    ``--password-file``, or generated and written there (mode 0600) when the file does not exist; it is never
    printed."""
    import secrets

    from tailor_shared import kafka, storage, topics
    from tailor_tools.private_files import create_private_once

    settings = CommonSettings.from_env("tools", 0, 0)
    try:
        user = kafka.account_user(args.account)
    except PersonalizeError as err:
        print(f"error: {err.message}", file=sys.stderr)
        return 2
    client = kafka.kafka_config(settings.kafka_bootstrap)
    path: Path = args.password_file
    if not path.exists():
        create_private_once(path, secrets.token_urlsafe(32).encode())
        print(f"wrote a new password for {user} to {path}")
    password = path.read_text(encoding="utf-8").strip()
    if len(password) < 16:
        print(f"error: the password in {path} has fewer than 16 characters", file=sys.stderr)
        return 2
    kafka.set_account_password(client, args.account, password)
    print(f"Kafka user {user}: SCRAM-SHA-512 credential set")
    if args.no_grant:
        return 0
    with storage.records(settings.kafka_bootstrap, settings.topic_prefix) as view:
        grants = topics.account_topic_grants(settings.topic_prefix, view.list("datasetGroup"))
    mine = sorted(prefix for prefix, account in grants.items() if account == args.account)
    for prefix in mine:
        kafka.grant_dataset_group(client, prefix, args.account)
        print(f"granted WRITE, DESCRIBE on topics {prefix}*")
    if not mine:
        print(
            f"no live dataset group of account {args.account} under prefix {settings.topic_prefix!r}: nothing granted"
        )
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    module = f"tailor_{args.service}"
    # The local stack's environment: its addresses and, unless credentials are configured, the development identity.
    os.execvpe(
        sys.executable, [sys.executable, "-m", module], localstack.service_env(localstack.StackConfig.from_env())
    )


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
    local.add_argument(
        "action",
        choices=["up", "down", "status", "logs", "storage", "purge", "credentials"],
        help="what to do (credentials: print the development identity as AWS_* exports, for boto3 and the AWS CLI)",
    )
    local.add_argument(
        "component",
        nargs="?",
        default=None,
        help="for logs: kafka (default), redis or a service name; for storage: the topic prefix (default "
        "TAILOR_TOPIC_PREFIX); for purge: the topic prefix whose topics, consumer groups and Redis keys to delete "
        "(`test` clears what old test runs left)",
    )
    local.add_argument("-n", "--lines", type=int, default=50, help="for logs: how many lines")
    local.add_argument(
        "--with-services", action="store_true", help="for up: also start control, ingest, stream, trainer and runtime"
    )
    local.add_argument(
        "--cluster",
        action="store_true",
        help="for up, down and status: the multi-node stack instead (three KRaft Kafka nodes, topics with "
        "replication factor 3 and min.insync.replicas 2, a Redis primary + replica under three Sentinels; "
        "ports TAILOR_CLUSTER_KAFKA_PORT 19092.., TAILOR_CLUSTER_REDIS_PORT 16379.., TAILOR_CLUSTER_SENTINEL_PORT "
        "26379..; ADR 0025); up and status print the environment the services need",
    )
    local.add_argument(
        "--tls",
        action="store_true",
        help="the secure stack (also TAILOR_LOCAL_TLS=1; ADR 0027): a development CA under <state>/tls, Kafka only "
        "on SASL_SSL with SCRAM-SHA-512 users, Redis only on TLS with an ACL user, the services on TLS; use a "
        "TAILOR_STATE_DIR of its own",
    )
    local.set_defaults(func=_cmd_local)
    demo = sub.add_parser(
        "demo",
        help="run the whole flow on the local stack: import, train, deploy, recommend, react to live events",
        description="Starts the local stack and all services (unless --no-start), then walks through Personalize's "
        "custom flow with generated data (or --data ../shared/datasets/ml-latest-small).",
    )
    demo.add_argument("--data", type=Path, default=None, help="a MovieLens folder (ml-latest-small or ml-100k)")
    demo.add_argument("--no-start", action="store_true", help="use services that are already running")
    demo.set_defaults(func=_cmd_demo)
    cap = sub.add_parser(
        "capacity",
        help="the runtime replicas that minProvisionedTPS / minRecommendationRequestsPerSecond need",
        description="Sums minProvisionedTPS of the serving campaigns and minRecommendationRequestsPerSecond of the "
        "serving recommenders (TAILOR_KAFKA_BOOTSTRAP, TAILOR_TOPIC_PREFIX) and prints the runtime HPA's "
        "minReplicas for a measured per-replica throughput (docs/specs/deployment.md).",
    )
    cap.add_argument("--replica-tps", type=float, required=True, help="requests/s one runtime replica serves")
    cap.add_argument("--floor", type=int, default=2, help="never fewer replicas than this (default 2)")
    cap.set_defaults(func=_cmd_capacity)
    acct = sub.add_parser(
        "kafka-account",
        help="create or update an account's Kafka user and grant it its dataset groups' topics (ADR 0034)",
        description="Sets the SCRAM-SHA-512 credential of the Kafka user acct-<account> (the account's direct "
        "producers) and grants it WRITE and DESCRIBE on the topic prefix of each live dataset group of the account "
        "(TAILOR_KAFKA_BOOTSTRAP, TAILOR_TOPIC_PREFIX, and TAILOR_KAFKA_SECURITY_PROTOCOL / TAILOR_KAFKA_SASL_* of "
        "a super user). Run it again after creating dataset groups, or let ingest keep the grants "
        "(TAILOR_KAFKA_TENANT_ACLS=1). Idempotent.",
    )
    acct.add_argument("account", help="the 12-digit account id")
    acct.add_argument(
        "--password-file",
        type=Path,
        required=True,
        help="the user's password; generated (mode 0600) when the file does not exist. Never printed",
    )
    acct.add_argument("--no-grant", action="store_true", help="only set the credential")
    acct.set_defaults(func=_cmd_kafka_account)
    serve = sub.add_parser("serve", help="run one service in the foreground", description="Run one service.")
    serve.add_argument("service", choices=SERVICES)
    serve.set_defaults(func=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
