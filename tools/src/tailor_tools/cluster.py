"""The multi-node local stack (``tailor local up --cluster``, ADR 0025): three KRaft Kafka nodes and a Redis
primary with one replica watched by three Sentinels, as plain processes on loopback.

Every Kafka node is broker and controller (three static voters, so the quorum survives any one node), topics
are created by Tailor with replication factor 3 and ``min.insync.replicas`` 2 (``TopicPolicy``, exported to the
services through :func:`service_env`). Redis Sentinel promotes the replica when the primary stops answering;
clients find the primary through the Sentinels (``redis+sentinel://`` URLs, ``tailor_shared.redis_client``).

It runs beside the single-node stack, on other ports and under ``<state>/cluster``; each node is a
``StackConfig`` of its own (its ``kafka-libs`` a link to the jars ``scripts/setup.sh`` fetched), so the process
handling (PID files, readiness, logs) is ``localstack``'s.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import redis
from confluent_kafka.admin import AdminClient

from tailor_shared.config import env_int
from tailor_shared.redis_client import SENTINEL_SCHEME
from tailor_tools import localstack
from tailor_tools.localstack import StackConfig, StackError

#: The name Sentinel knows the primary by (the path of the ``redis+sentinel://`` URL).
PRIMARY_NAME = "tailor"
NODES = 3
#: Durability of every Tailor topic on the cluster: survives one node, refuses writes when two are gone.
REPLICATION_FACTOR = 3
MIN_INSYNC_REPLICAS = 2
#: A node that misses heartbeats this long is fenced and its partitions get new leaders (Kafka's default is
#: 9 s; a Put* call waits at most ``PRODUCE_TIMEOUT_MS``, which must cover fencing plus an election).
BROKER_SESSION_TIMEOUT_MS = 2_000
BROKER_HEARTBEAT_MS = 500
PRODUCE_TIMEOUT_MS = 15_000
#: Sentinel calls the primary down after this long without an answer, then fails over.
SENTINEL_DOWN_AFTER_MS = 1_000
SENTINEL_FAILOVER_TIMEOUT_MS = 5_000


@dataclass(frozen=True)
class ClusterConfig:
    state_dir: Path
    kafka_libs: Path
    kafka_base_port: int = 19092  # node i (0-based) listens on base+i, its controller on controller_base+i
    controller_base_port: int = 19192
    redis_base_port: int = 16379  # primary on base, replica on base+1
    sentinel_base_port: int = 26379  # three Sentinels on base, base+1, base+2
    kafka_heap: str = "512m"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ClusterConfig:
        e = os.environ if env is None else env
        base = StackConfig.from_env(e)
        return cls(
            state_dir=base.state_dir / "cluster",
            kafka_libs=base.kafka_libs,
            kafka_base_port=env_int(e, "TAILOR_CLUSTER_KAFKA_PORT", 19092),
            controller_base_port=env_int(e, "TAILOR_CLUSTER_CONTROLLER_PORT", 19192),
            redis_base_port=env_int(e, "TAILOR_CLUSTER_REDIS_PORT", 16379),
            sentinel_base_port=env_int(e, "TAILOR_CLUSTER_SENTINEL_PORT", 26379),
            kafka_heap=base.kafka_heap,
        )

    def node(self, i: int) -> StackConfig:
        """Node ``i`` (0-based) as a single-node stack config: its own state, logs and PID file."""
        return StackConfig(
            state_dir=self.state_dir / f"kafka-{i + 1}",
            kafka_port=self.kafka_base_port + i,
            controller_port=self.controller_base_port + i,
            kafka_heap=self.kafka_heap,
        )

    @property
    def processes(self) -> StackConfig:
        """Where the Redis processes' PID files and logs live."""
        return StackConfig(state_dir=self.state_dir, redis_port=self.redis_base_port)

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(self.node(i).kafka_bootstrap for i in range(NODES))

    @property
    def redis_ports(self) -> tuple[int, int]:
        return self.redis_base_port, self.redis_base_port + 1

    @property
    def sentinel_ports(self) -> tuple[int, ...]:
        return tuple(self.sentinel_base_port + i for i in range(NODES))

    @property
    def redis_url(self) -> str:
        hosts = ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)
        return f"{SENTINEL_SCHEME}://{hosts}/{PRIMARY_NAME}/0"


def free_block(n: int, start: int) -> int:
    """The first port >= ``start`` from which ``n`` consecutive ports are free on loopback. Start below Linux's
    ephemeral range (32768+), where no outgoing connection or other "free port" can take one between the check
    and the bind."""
    port = start
    while port + n < 32768:
        if not any(localstack.port_open(p) or not _bindable(p) for p in range(port, port + n)):
            return port
        port += n
    raise StackError(f"no {n} free consecutive ports from {start} below 32768")


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_config(state_dir: Path, kafka_libs: Path, kafka_heap: str = "512m", start: int = 21000) -> ClusterConfig:
    """A cluster on free ports (tests and benchmarks that start their own beside anything else running)."""
    kafka = free_block(NODES, start)
    controller = free_block(NODES, kafka + NODES)
    redis_port = free_block(2, controller + NODES)
    sentinel = free_block(NODES, redis_port + 2)
    return ClusterConfig(state_dir, kafka_libs, kafka, controller, redis_port, sentinel, kafka_heap)


def service_env(cluster: ClusterConfig) -> dict[str, str]:
    """What a Tailor service needs to run against the cluster (``tailor local up --cluster`` prints it)."""
    return {
        "TAILOR_KAFKA_BOOTSTRAP": cluster.kafka_bootstrap,
        "TAILOR_REDIS_URL": cluster.redis_url,
        "TAILOR_TOPIC_REPLICATION_FACTOR": str(REPLICATION_FACTOR),
        "TAILOR_TOPIC_MIN_INSYNC_REPLICAS": str(MIN_INSYNC_REPLICAS),
        "TAILOR_INGEST_PRODUCE_TIMEOUT_MS": str(PRODUCE_TIMEOUT_MS),
    }


def _node_properties(cluster: ClusterConfig, i: int) -> str:
    node = cluster.node(i)
    voters = ",".join(f"{j + 1}@127.0.0.1:{cluster.controller_base_port + j}" for j in range(NODES))
    rf, isr = REPLICATION_FACTOR, MIN_INSYNC_REPLICAS
    return "\n".join(
        [
            "process.roles=broker,controller",
            f"node.id={i + 1}",
            f"controller.quorum.voters={voters}",
            f"listeners=PLAINTEXT://127.0.0.1:{node.kafka_port},CONTROLLER://127.0.0.1:{node.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{node.kafka_port}",
            "inter.broker.listener.name=PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"log.dirs={node.state_dir / 'kafka-data'}",
            "num.partitions=1",
            f"default.replication.factor={rf}",
            f"min.insync.replicas={isr}",
            f"offsets.topic.replication.factor={rf}",
            "offsets.topic.num.partitions=4",
            f"transaction.state.log.replication.factor={rf}",
            f"transaction.state.log.min.isr={isr}",
            "transaction.state.log.num.partitions=1",
            f"share.coordinator.state.topic.replication.factor={rf}",
            f"share.coordinator.state.topic.min.isr={isr}",
            "unclean.leader.election.enable=false",
            f"broker.session.timeout.ms={BROKER_SESSION_TIMEOUT_MS}",
            f"broker.heartbeat.interval.ms={BROKER_HEARTBEAT_MS}",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "num.network.threads=2",
            "num.io.threads=2",
            "num.replica.fetchers=1",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.dedupe.buffer.size=16777216",
            "log.segment.bytes=67108864",
            "",
        ]
    )


def _cluster_ready(cluster: ClusterConfig, timeout: float = 1.0) -> bool:
    """Every node is registered (unfenced) and answers metadata."""
    if not all(localstack.port_open(cluster.kafka_base_port + i) for i in range(NODES)):
        return False
    try:
        admin = AdminClient({"bootstrap.servers": cluster.kafka_bootstrap, "socket.timeout.ms": 1000})
        return len(admin.list_topics(timeout=timeout).brokers) == NODES
    except Exception:
        return False


def start_kafka(cluster: ClusterConfig, timeout: float = 180.0) -> str:
    if _cluster_ready(cluster):
        return "already running"
    if not any(cluster.kafka_libs.glob("kafka_2.13-*.jar")):
        raise StackError(f"no Kafka jars in {cluster.kafka_libs}: run `make setup` (scripts/setup.sh fetches them)")
    cluster.state_dir.mkdir(parents=True, exist_ok=True)
    id_file = cluster.state_dir / "kafka-cluster-id"
    if not id_file.exists():
        id_file.write_text(localstack.new_cluster_id())
    for i in range(NODES):
        start_node(cluster, i, id_file.read_text().strip())
    deadline = time.monotonic() + timeout
    while not _cluster_ready(cluster):
        down = [i for i in range(NODES) if localstack.running_pid(cluster.node(i), "kafka") is None]
        if down or time.monotonic() > deadline:
            node = cluster.node(down[0] if down else 0)
            raise StackError(
                f"the Kafka cluster did not become ready; node {node.state_dir.name} log:\n"
                f"{localstack.log_tail(node.log_dir / 'kafka-server.log', 30)}"
            )
        time.sleep(0.3)
    return "started"


def start_node(cluster: ClusterConfig, i: int, cluster_id: str | None = None) -> None:
    """Start node ``i`` unless its process runs (format its storage on first start); does not wait."""
    node = cluster.node(i)
    if localstack.running_pid(node, "kafka") is not None:
        return
    node.state_dir.mkdir(parents=True, exist_ok=True)
    libs = node.kafka_libs
    if not libs.is_symlink():
        libs.symlink_to(cluster.kafka_libs, target_is_directory=True)
    props = node.state_dir / "kafka-server.properties"
    props.write_text(_node_properties(cluster, i))
    (node.state_dir / "kafka-log4j2.properties").write_text(localstack.LOG4J2)
    java = localstack.java_cmd(node)
    cid = cluster_id or (cluster.state_dir / "kafka-cluster-id").read_text().strip()
    localstack.format_storage(java, cid, props)
    localstack.spawn(node, "kafka", [*java, "kafka.Kafka", str(props)])


def _ping(port: int) -> bool:
    try:
        client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def _redis_argv(cluster: ClusterConfig, port: int, replica_of: int | None) -> list[str]:
    data = cluster.state_dir / f"redis-{port}"
    data.mkdir(parents=True, exist_ok=True)
    argv = [localstack.redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data)]
    # No persistence, as on the single node (Redis is derived state): a replica and Sentinel keep it through the
    # loss of one process; a restarted node joins as a replica and copies the primary.
    argv += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
    if replica_of is not None:
        argv += ["--replicaof", "127.0.0.1", str(replica_of)]
    return argv


def _sentinel_config(cluster: ClusterConfig, port: int) -> Path:
    """Sentinel rewrites its config file (it records the current primary there), so each gets its own."""
    path = cluster.state_dir / f"sentinel-{port}.conf"
    primary = cluster.redis_ports[0]
    path.write_text(
        "\n".join(
            [
                "bind 127.0.0.1",
                f"port {port}",
                f"dir {cluster.state_dir}",
                f"sentinel monitor {PRIMARY_NAME} 127.0.0.1 {primary} 2",
                f"sentinel down-after-milliseconds {PRIMARY_NAME} {SENTINEL_DOWN_AFTER_MS}",
                f"sentinel failover-timeout {PRIMARY_NAME} {SENTINEL_FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {PRIMARY_NAME} 1",
                "",
            ]
        )
    )
    return path


def _sentinel_ready(port: int) -> tuple[str, int] | None:
    """The primary this Sentinel names, if it could fail over now: it knows the other Sentinels and a replica
    that is up and in sync, and it is not in TILT mode (a Sentinel whose timer was starved over 2 s, as on a
    CPU-starved machine, takes no action for 30 s)."""
    try:
        client = redis.Redis(port=port, socket_timeout=0.5, socket_connect_timeout=0.5, decode_responses=True)
        try:
            state = client.sentinel_master(PRIMARY_NAME)  # type: ignore[no-untyped-call]
            replicas = client.sentinel_slaves(PRIMARY_NAME)  # type: ignore[no-untyped-call]
            tilt = int(client.info("sentinel").get("sentinel_tilt", 0))
        finally:
            client.close()
    except redis.RedisError:
        return None
    synced = [
        r for r in replicas if not (r["is_sdown"] or r["is_disconnected"]) and r.get("master-link-status") == "ok"
    ]
    if tilt or not synced or int(state.get("num-other-sentinels", 0)) < NODES - 1 or state["is_sdown"]:
        return None
    return str(state["ip"]), int(state["port"])


def _sentinels_agree(cluster: ClusterConfig) -> bool:
    """Every Sentinel names the same live primary with an in-sync replica and could fail over now."""
    seen = {_sentinel_ready(port) for port in cluster.sentinel_ports}
    return len(seen) == 1 and None not in seen


def start_redis(cluster: ClusterConfig, timeout: float = 60.0) -> str:
    if _sentinels_agree(cluster):
        return "already running"
    procs = cluster.processes
    primary, replica = cluster.redis_ports
    if (
        localstack.running_pid(procs, f"redis-{primary}") is None
        and localstack.running_pid(procs, f"redis-{replica}") is None
    ):
        localstack.spawn(procs, f"redis-{primary}", _redis_argv(cluster, primary, None))
        localstack.spawn(procs, f"redis-{replica}", _redis_argv(cluster, replica, primary))
    for port in cluster.sentinel_ports:
        if localstack.running_pid(procs, f"sentinel-{port}") is None:
            conf = _sentinel_config(cluster, port)
            localstack.spawn(procs, f"sentinel-{port}", [localstack.redis_server_binary(), str(conf), "--sentinel"])
    deadline = time.monotonic() + timeout
    names = [f"redis-{p}" for p in cluster.redis_ports] + [f"sentinel-{p}" for p in cluster.sentinel_ports]
    while not _sentinels_agree(cluster):
        gone = [n for n in names if localstack.running_pid(procs, n) is None]
        if gone or time.monotonic() > deadline:
            log = procs.log_file(gone[0] if gone else names[-1])
            raise StackError(
                f"Redis Sentinel did not settle ({gone or 'timeout'}); log:\n{localstack.log_tail(log, 30)}"
            )
        time.sleep(0.3)
    return "started"


def ready(cluster: ClusterConfig) -> bool:
    return _cluster_ready(cluster) and _sentinels_agree(cluster)


def repair(cluster: ClusterConfig, timeout: float = 120.0) -> list[str]:
    """Bring a cluster that a fault left short back to its whole shape and wait until it is ready: start dead Kafka
    nodes and Sentinels, resume a frozen Redis (SIGCONT), start a dead Redis as a replica of the primary the
    Sentinels name. Fault tests call it first, so that one failed test cannot leave the next a broken cluster.
    Returns what it did."""
    done: list[str] = []
    for i in range(NODES):
        if localstack.running_pid(cluster.node(i), "kafka") is None:
            start_node(cluster, i)
            done.append(f"kafka-{i + 1} started")
    procs = cluster.processes
    for port in cluster.sentinel_ports:
        conf = cluster.state_dir / f"sentinel-{port}.conf"
        if localstack.running_pid(procs, f"sentinel-{port}") is None:
            conf = conf if conf.exists() else _sentinel_config(cluster, port)
            localstack.spawn(procs, f"sentinel-{port}", [localstack.redis_server_binary(), str(conf), "--sentinel"])
            done.append(f"sentinel-{port} started")
    for port in cluster.redis_ports:
        pid = localstack.running_pid(procs, f"redis-{port}")
        if pid is not None:
            os.kill(pid, signal.SIGCONT)  # a stopped process resumes; a running one ignores it
    deadline = time.monotonic() + timeout
    primary = None
    while primary is None:
        with contextlib.suppress(redis.RedisError, ValueError, TypeError):
            named = redis_primary_port(cluster)
            if localstack.running_pid(procs, f"redis-{named}") is not None:
                primary = named
        if primary is None:
            if time.monotonic() > deadline:
                raise StackError(f"the Sentinels name no live Redis primary; their log:\n{failover_log(cluster)}")
            time.sleep(0.3)
    for port in cluster.redis_ports:
        if port != primary and localstack.running_pid(procs, f"redis-{port}") is None:
            localstack.spawn(procs, f"redis-{port}", _redis_argv(cluster, port, primary))
            done.append(f"redis-{port} started as a replica of {primary}")
    while not ready(cluster):
        if time.monotonic() > deadline:
            raise StackError(f"the cluster did not become whole again ({done}); Sentinels:\n{failover_log(cluster)}")
        time.sleep(0.3)
    return done


def failover_log(cluster: ClusterConfig, lines: int = 30) -> str:
    """The Sentinels' recent events (down, TILT, elections, switches): why a failover did or did not happen."""
    procs = cluster.processes
    out = []
    for port in cluster.sentinel_ports:
        text = localstack.log_tail(procs.log_file(f"sentinel-{port}"), 400)
        events = [line for line in text.splitlines() if " # " in line or " * " in line]
        out.append(f"sentinel-{port}:\n" + "\n".join(events[-lines:]))
    return "\n".join(out)


def up(cluster: ClusterConfig) -> dict[str, str]:
    return {"redis": start_redis(cluster), "kafka": start_kafka(cluster)}


def process_names(cluster: ClusterConfig) -> list[tuple[StackConfig, str]]:
    """Every process of the cluster as (config, PID-file name)."""
    procs = cluster.processes
    names = [(cluster.node(i), "kafka") for i in range(NODES)]
    names += [(procs, f"sentinel-{p}") for p in cluster.sentinel_ports]
    names += [(procs, f"redis-{p}") for p in cluster.redis_ports]
    return names


def down(cluster: ClusterConfig) -> dict[str, str]:
    """Stop every process at once: a Kafka node stopped alone waits for the others in its controlled shutdown."""
    names = process_names(cluster)
    with ThreadPoolExecutor(len(names)) as pool:
        done = pool.map(lambda item: localstack.stop_process(*item), names)
        return {f"{cfg.state_dir.name}/{name}": what for (cfg, name), what in zip(names, done, strict=True)}


def kill_node(cluster: ClusterConfig, i: int) -> None:
    """``kill -9`` Kafka node ``i`` (for fault tests)."""
    _kill(cluster.node(i), "kafka")


def redis_primary_port(cluster: ClusterConfig) -> int:
    """The port of the Redis primary, as the Sentinels report it now."""
    client = redis.Redis(port=cluster.sentinel_ports[0], socket_timeout=1, decode_responses=True)
    try:
        _, port = client.sentinel_get_master_addr_by_name(PRIMARY_NAME)  # type: ignore[no-untyped-call]
    finally:
        client.close()
    return int(port)


def kill_redis(cluster: ClusterConfig, port: int) -> None:
    """``kill -9`` the Redis server on ``port`` (for fault tests)."""
    _kill(cluster.processes, f"redis-{port}")


def _kill(cfg: StackConfig, name: str) -> None:
    pid = localstack.running_pid(cfg, name)
    if pid is None:
        raise StackError(f"{cfg.state_dir.name}/{name} is not running")
    os.kill(pid, signal.SIGKILL)
    localstack.reap(pid)
    while localstack.running_pid(cfg, name) is not None:
        time.sleep(0.05)
