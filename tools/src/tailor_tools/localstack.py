"""The local stack: a single-node KRaft Apache Kafka broker, a Redis server and an S3 server as plain processes.

No Docker engine is assumed. Kafka runs from the Maven Central jars that ``scripts/setup.sh`` fetched
into ``<state>/kafka-libs``; Redis is Debian's ``redis-server``; S3 is Versity Gateway (``versitygw``, built
by ``scripts/setup.sh`` into ``~/.cache/tailor``) serving ``<state>/s3`` (ADR 0023). Processes are tracked by
PID files under ``<state>/run`` and stopped by PID, never by name (docs/specs/local-stack.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from tailor_shared.config import env_int
from tailor_tools import devpki
from tailor_tools.private_files import create_private_once


def repo_root() -> Path:
    """The checkout this library runs from (the workspace installs it editable)."""
    return Path(__file__).resolve().parents[3]


@dataclass(frozen=True)
class StackConfig:
    state_dir: Path
    kafka_port: int = 9092
    controller_port: int = 9093
    redis_port: int = 6379
    kafka_heap: str = "512m"
    s3_port: int = 7070
    #: Run the Schema Registry (ADR 0024 §7; ``TAILOR_SCHEMA_REGISTRY=1``): off unless asked for.
    schema_registry: bool = False
    schema_registry_port: int = 8081
    #: The secure stack (``tailor local up --tls``, ``TAILOR_LOCAL_TLS=1``; ADR 0027): Kafka only on a SASL_SSL
    #: listener with SCRAM-SHA-512 users, Redis only on a TLS port with an ACL user, services on TLS, all with
    #: certificates of the development CA under ``<state>/tls``.
    tls: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> StackConfig:
        e = os.environ if env is None else env
        state = Path(e.get("TAILOR_STATE_DIR") or repo_root() / ".tailor")
        return cls(
            state_dir=state.resolve(),
            kafka_port=env_int(e, "TAILOR_KAFKA_PORT", 9092),
            controller_port=env_int(e, "TAILOR_KAFKA_CONTROLLER_PORT", 9093),
            redis_port=env_int(e, "TAILOR_REDIS_PORT", 6379),
            kafka_heap=e.get("TAILOR_KAFKA_HEAP", "512m"),
            s3_port=env_int(e, "TAILOR_S3_PORT", 7070),
            schema_registry=e.get("TAILOR_SCHEMA_REGISTRY", "").lower() in ("1", "true", "yes", "on"),
            schema_registry_port=env_int(e, "TAILOR_SCHEMA_REGISTRY_PORT", 8081),
            tls=e.get("TAILOR_LOCAL_TLS", "").lower() in ("1", "true", "yes", "on"),
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        if self.tls:
            password = dev_secret(self, "redis")
            return f"rediss://{REDIS_USER}:{password}@127.0.0.1:{self.redis_port}/0?ssl_ca_certs={self.pki.ca_cert}"
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def pki(self) -> devpki.DevPki:
        """The development CA and server certificate (made on first use)."""
        return devpki.ensure(self.state_dir / "tls")

    def kafka_env(self) -> dict[str, str]:
        """The ``TAILOR_KAFKA_*`` security settings a client of this stack's broker needs (none when plaintext)."""
        if not self.tls:
            return {}
        return {
            "TAILOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "TAILOR_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "TAILOR_KAFKA_SASL_USERNAME": KAFKA_USER,
            "TAILOR_KAFKA_SASL_PASSWORD": dev_secret(self, "kafka"),
            "TAILOR_KAFKA_SSL_CA_FILE": str(self.pki.ca_cert),
        }

    def kafka_client(self, **overrides: str | int | float | bool) -> dict[str, str | int | float | bool]:
        """A confluent-kafka config for this stack's broker (its TLS and SCRAM user when secure)."""
        from tailor_shared.kafka import KafkaSecurity

        security = KafkaSecurity.from_env(self.kafka_env()).librdkafka()
        return {"bootstrap.servers": self.kafka_bootstrap, **security, **overrides}

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def schema_registry_url(self) -> str:
        return f"http://127.0.0.1:{self.schema_registry_port}"

    def s3_env(self) -> dict[str, str]:
        """What a service needs to use the local S3 server (the development credential of docs/specs/local-stack.md)."""
        return {
            "TAILOR_S3_ENDPOINT_URL": self.s3_endpoint,
            "TAILOR_S3_ACCESS_KEY_ID": S3_ACCESS_KEY,
            "TAILOR_S3_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        }

    @property
    def kafka_libs(self) -> Path:
        return self.state_dir / "kafka-libs"

    @property
    def run_dir(self) -> Path:
        return self.state_dir / "run"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"


#: The local S3 server's root credential: for this loopback development server only.
S3_ACCESS_KEY = "tailor-local"
S3_SECRET_KEY = "tailor-local-secret"
#: The bucket ``tailor local up`` creates (``s3://tailor-local/...`` for demos and the model store).
S3_BUCKET = "tailor-local"
VERSITYGW_VERSION = "v1.8.0"
#: Conduit's Schema Registry module that tools/schema-registry serves (its go.mod pins the same).
SCHEMA_REGISTRY_VERSION = "v0.2.6"


#: The secure stack's users: services authenticate to Kafka (SCRAM-SHA-512) and Redis (ACL) as these.
KAFKA_USER = "tailor"
REDIS_USER = "tailor"
#: The broker's own SCRAM user on its SASL_SSL inter-broker listener.
KAFKA_BROKER_USER = "tailor-broker"


def dev_secret(cfg: StackConfig, name: str) -> str:
    """A development password, generated once per state directory and kept in ``<state>/tls/<name>.password``
    (owner-only): never a constant in the code, so two secure stacks never share one."""
    import secrets

    path = cfg.state_dir / "tls" / f"{name}.password"
    path.parent.mkdir(parents=True, exist_ok=True)
    create_private_once(path, secrets.token_urlsafe(24).encode())
    return path.read_text().strip()


class StackError(RuntimeError):
    """The local stack could not be started or is broken; the message says what to do."""


def running_pid(cfg: StackConfig, name: str) -> int | None:
    """The pid of the stack's process ``name`` (its pid file) while it runs; None when it is gone or a zombie."""
    try:
        pid = int(cfg.pid_file(name).read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return None if _is_zombie(pid) else pid


def port_open(port: int) -> bool:
    """Whether something accepts connections on this loopback port (the local stack's and the cluster's probes)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def redis_ready(cfg: StackConfig) -> bool:
    try:
        client = redis.Redis.from_url(cfg.redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except redis.RedisError:
        return False


def kafka_ready(cfg: StackConfig, timeout: float = 1.0) -> bool:
    """Ready means the broker answers a metadata request, not merely that the port is open."""
    if not port_open(cfg.kafka_port):
        return False
    try:
        admin = AdminClient(cfg.kafka_client(**{"socket.timeout.ms": 1000}))
        meta = admin.list_topics(timeout=timeout)
        return len(meta.brokers) > 0
    except Exception:
        return False


#: Processes this interpreter started, by PID: kept so that a long-lived caller (a test session that starts its
#: own stack) reaps them when they stop instead of leaving zombies and "still running" warnings behind.
_SPAWNED: dict[int, subprocess.Popen[bytes]] = {}


def spawn(cfg: StackConfig, name: str, argv: list[str]) -> int:
    """Start a server in its own session, logging to ``cfg``'s log file for ``name`` and recording its pid file:
    ``stop`` and ``running_pid`` find it there."""
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.log_file(name), "ab") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    _SPAWNED[proc.pid] = proc
    cfg.pid_file(name).write_text(str(proc.pid))
    return proc.pid


def _wait(cfg: StackConfig, name: str, check: object, timeout: float) -> None:
    assert callable(check)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check(cfg):
            return
        if running_pid(cfg, name) is None:
            break
        time.sleep(0.2)
    tail = log_tail(cfg.log_file(name), 30)
    raise StackError(f"{name} did not become ready within {timeout:.0f}s; last log lines:\n{tail}")


def log_tail(path: Path, lines: int) -> str:
    """The last lines of a log, for an error message (a note instead when there is no log)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return f"(no log at {path})"


def redis_server_binary() -> str:
    fallback = Path("/usr/bin/redis-server")
    found = shutil.which("redis-server") or (str(fallback) if fallback.exists() else None)
    if not found:
        raise StackError("redis-server is not installed: run `make setup` (scripts/setup.sh installs it)")
    return found


def start_redis(cfg: StackConfig) -> str:
    if redis_ready(cfg):
        return "already running" if running_pid(cfg, "redis") else f"already answering on port {cfg.redis_port}"
    data = cfg.state_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    spawn(
        cfg,
        "redis",
        [
            redis_server_binary(),
            "--bind",
            "127.0.0.1",
            *(_redis_tls_args(cfg) if cfg.tls else ["--port", str(cfg.redis_port)]),
            "--dir",
            str(data),
            "--save",
            "",
            "--appendonly",
            "no",
            # Background tasks (active expiry, client timeouts, stats) once a second instead of 10 times: an
            # idle Redis spent 0.15 % of a core on them, 0.015 % at 1 (ADR 0030 §13). Expired keys still vanish
            # when read; a development stack holds few of them between two passes.
            "--hz",
            "1",
            "--daemonize",
            "no",
        ],
    )
    _wait(cfg, "redis", redis_ready, 30)
    return "started"


def _redis_tls_args(cfg: StackConfig) -> list[str]:
    """TLS only (no plaintext port) and one ACL user; the passwordless ``default`` user is switched off."""
    pki = cfg.pki
    return [
        "--port",
        "0",
        "--tls-port",
        str(cfg.redis_port),
        "--tls-cert-file",
        str(pki.server_cert),
        "--tls-key-file",
        str(pki.server_key),
        "--tls-ca-cert-file",
        str(pki.ca_cert),
        "--tls-auth-clients",
        "no",
        "--user",
        REDIS_USER,
        "on",
        f">{dev_secret(cfg, 'redis')}",
        "~*",
        "&*",
        "+@all",
        "--user",
        "default",
        "off",
    ]


def versitygw_binary() -> str:
    """``$TAILOR_VERSITYGW``, else the binary scripts/setup.sh cached, else one on PATH."""
    cache = Path(os.environ.get("TAILOR_CACHE_DIR") or Path.home() / ".cache" / "tailor")
    for candidate in (os.environ.get("TAILOR_VERSITYGW"), str(cache / f"versitygw-{VERSITYGW_VERSION}" / "versitygw")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which("versitygw")
    if not found:
        raise StackError("versitygw is not installed: run `make setup` (scripts/setup.sh builds it)")
    return found


def s3_ready(cfg: StackConfig) -> bool:
    """Ready means the server answers S3 (an unsigned request gets an S3 error document back)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(cfg.s3_endpoint, timeout=1):
            return True
    except urllib.error.HTTPError as err:
        return err.code in (400, 403)
    except OSError:
        return False


def start_s3(cfg: StackConfig) -> str:
    """Versity Gateway over ``<state>/s3`` (its POSIX backend: a bucket is a directory), plus the stack's bucket."""
    if s3_ready(cfg):
        return "already running" if running_pid(cfg, "s3") else f"already answering on port {cfg.s3_port}"
    root = cfg.state_dir / "s3"
    root.mkdir(parents=True, exist_ok=True)
    argv = [versitygw_binary(), "--port", f"127.0.0.1:{cfg.s3_port}", "--access", S3_ACCESS_KEY]
    spawn(cfg, "s3", [*argv, "--secret", S3_SECRET_KEY, "--quiet", "posix", str(root)])
    _wait(cfg, "s3", s3_ready, 30)
    return "started"


def schema_registry_binary() -> str:
    """``tools/schema-registry`` built by scripts/setup.sh (``TAILOR_SCHEMA_REGISTRY_BIN`` names another)."""
    cache = Path(os.environ.get("TAILOR_CACHE_DIR") or Path.home() / ".cache" / "tailor")
    built = cache / f"schema-registry-{SCHEMA_REGISTRY_VERSION}" / "tailor-schema-registry"
    for candidate in (os.environ.get("TAILOR_SCHEMA_REGISTRY_BIN"), str(built)):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise StackError("the schema registry is not built: run `make setup` (scripts/setup.sh builds it)")


def schema_registry_ready(cfg: StackConfig) -> bool:
    """Ready means it answers the Confluent API: schema id 0 is never assigned, so ``404`` is the answer."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{cfg.schema_registry_url}/schemas/ids/0", timeout=1):
            return True
    except urllib.error.HTTPError as err:
        return err.code == 404
    except OSError:
        return False


def start_schema_registry(cfg: StackConfig) -> str:
    """The Confluent-compatible registry (Conduit's, ADR 0024 §7) over ``<state>/schema-registry``."""
    if schema_registry_ready(cfg):
        return (
            "already running"
            if running_pid(cfg, "schema-registry")
            else f"already answering on {cfg.schema_registry_url}"
        )
    root = cfg.state_dir / "schema-registry"
    root.mkdir(parents=True, exist_ok=True)
    argv = [schema_registry_binary(), "-listen", f"127.0.0.1:{cfg.schema_registry_port}", "-dir", str(root)]
    spawn(cfg, "schema-registry", argv)
    _wait(cfg, "schema-registry", schema_registry_ready, 30)
    return "started"


def ensure_bucket(cfg: StackConfig, bucket: str) -> None:
    """Create ``bucket`` on the local S3 server unless it exists."""
    from tailor_shared.config import S3Settings
    from tailor_shared.objectstore import ObjectStore

    ObjectStore(S3Settings.from_env(cfg.s3_env())).create_bucket(bucket)


def _kafka_listener_properties(cfg: StackConfig) -> list[str]:
    """Plaintext, or (secure stack) one SASL_SSL listener for clients and the broker itself: TLS with the
    development certificate, SCRAM-SHA-512 users created at format time. The KRaft controller listener stays
    plaintext on loopback (only this process talks to it)."""
    if not cfg.tls:
        return [
            f"listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{cfg.kafka_port}",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        ]
    pki = cfg.pki
    login = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{KAFKA_BROKER_USER}" password="{dev_secret(cfg, "kafka-broker")}";'
    )
    return [
        f"listeners=SASL_SSL://127.0.0.1:{cfg.kafka_port},CONTROLLER://127.0.0.1:{cfg.controller_port}",
        f"advertised.listeners=SASL_SSL://127.0.0.1:{cfg.kafka_port}",
        "inter.broker.listener.name=SASL_SSL",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms=SCRAM-SHA-512",
        "sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={login}",
        "ssl.keystore.type=PKCS12",
        f"ssl.keystore.location={pki.server_p12}",
        f"ssl.keystore.password={devpki.KEYSTORE_PASSWORD}",
        f"ssl.key.password={devpki.KEYSTORE_PASSWORD}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={pki.ca_cert}",
        "ssl.client.auth=none",
        # Per-topic authorisation (ADR 0034): KRaft's StandardAuthorizer, deny when no ACL matches; Tailor's own
        # user and the broker are super users, and so is ANONYMOUS, the principal of the plaintext controller
        # listener that only this process reaches on loopback. Accounts' users get prefixed ACLs per group.
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{KAFKA_USER};User:{KAFKA_BROKER_USER};User:ANONYMOUS",
    ]


def _scram_users(cfg: StackConfig) -> list[str]:
    """``kafka-storage format --add-scram`` arguments: the services' user and the broker's own."""
    if not cfg.tls:
        return []
    users = ((KAFKA_USER, dev_secret(cfg, "kafka")), (KAFKA_BROKER_USER, dev_secret(cfg, "kafka-broker")))
    return [arg for name, pw in users for arg in ("--add-scram", f"SCRAM-SHA-512=[name={name},password={pw}]")]


def _kafka_properties(cfg: StackConfig) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{cfg.controller_port}",
            *_kafka_listener_properties(cfg),
            "controller.listener.names=CONTROLLER",
            f"log.dirs={cfg.state_dir / 'kafka-data'}",
            "num.partitions=1",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=1",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            # KRaft's no-op metadata record (every 500 ms by default) proves an active controller's liveness to
            # other voters and brokers; a single node has none, so it writes none (0; ADR 0030 §6, §15).
            "metadata.max.idle.interval.ms=0",
            # The node's broker heartbeats its own controller every 2 s by default (a request each); one node
            # has no other broker to fail over to, so 5 s (session 18 s, twice the default) costs nothing.
            "broker.heartbeat.interval.ms=5000",
            "broker.session.timeout.ms=18000",
            # One thread for each coordinator (default 4 for groups): a handful of groups, and idle threads
            # with their timers (ADR 0030).
            "group.coordinator.threads=1",
            "share.coordinator.threads=1",
            # Each partition's high watermark is written to a checkpoint file (and synced) every 5 s by default;
            # a lone replica that restarts takes its log end as its high watermark once it leads again.
            "replica.high.watermark.checkpoint.interval.ms=30000",
            "auto.create.topics.enable=true",
            # One network and one request thread per listener (default 3 and 8): each wakes every 300 ms when
            # idle, and this broker serves one developer's stack (ADR 0030 §15).
            "num.network.threads=1",
            "num.io.threads=1",
            "num.recovery.threads.per.data.dir=1",
            "log.cleaner.dedupe.buffer.size=16777216",
            "log.segment.bytes=67108864",
            "",
        ]
    )


LOG4J2 = """status = warn
appender.file.type = File
appender.file.name = FILE
appender.file.fileName = ${sys:kafka.logs.dir}/kafka-server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.file.ref = FILE
logger.kafka.name = kafka
logger.kafka.level = info
logger.state.name = state.change.logger
logger.state.level = warn
"""


def java_cmd(cfg: StackConfig) -> list[str]:
    """The JVM command line of a Kafka node: its heap, the idle-cost flags (ADR 0030) and the jars' class path."""
    java = shutil.which("java")
    if not java:
        raise StackError("java is not installed (Java 17+ is needed for the Kafka broker)")
    if not any(cfg.kafka_libs.glob("kafka_2.13-*.jar")):
        raise StackError(f"no Kafka jars in {cfg.kafka_libs}: run `make setup` (scripts/setup.sh fetches them)")
    return [
        java,
        "-Xms256m",
        f"-Xmx{cfg.kafka_heap}",
        "-XX:+UseSerialGC",
        # C1 only: the C2 compiler kept an idle broker busy for minutes after start (1.5-2.4 % of a core in
        # its compiler thread), and C1 code costs the broker no more CPU per record here (docs/benchmarks.md
        # "Idle cost": 2.4 us against 2.9-3.0 us produced + consumed, and half as much in the first run).
        "-XX:TieredStopAtLevel=1",
        # C1 at a tenth of its invocation and loop thresholds: what an idle broker runs is compiled in its first
        # minutes rather than one method a second for many minutes after (C1 thread 0.02-0.03 % of a core
        # against 0.04-0.08 % 4-8 minutes after start; ADR 0030 §15).
        "-XX:CompileThresholdScaling=0.1",
        # No hsperfdata sampler (the JVM's periodic task thread woke 20 times a second for it) and no safepoint
        # forced every second when nothing asks for one: with the checkpoint interval below, an idle bare broker
        # 0.70-0.80 % of a core against 0.78-0.93 % side by side (ADR 0030 §13).
        "-XX:-UsePerfData",
        "-XX:+UnlockDiagnosticVMOptions",
        "-XX:GuaranteedSafepointInterval=0",
        "-Djava.awt.headless=true",
        "-Djava.net.preferIPv4Stack=true",
        f"-Dkafka.logs.dir={cfg.log_dir}",
        f"-Dlog4j2.configurationFile={cfg.state_dir / 'kafka-log4j2.properties'}",
        "-cp",
        f"{cfg.kafka_libs}/*",
    ]


def start_kafka(cfg: StackConfig) -> str:
    if kafka_ready(cfg):
        return "already running" if running_pid(cfg, "kafka") else f"already answering on port {cfg.kafka_port}"
    if (port_open(cfg.kafka_port) or port_open(cfg.controller_port)) and running_pid(cfg, "kafka") is None:
        raise StackError(
            f"port {cfg.kafka_port} or {cfg.controller_port} is taken by a process this stack does not "
            "own; set TAILOR_KAFKA_PORT / TAILOR_KAFKA_CONTROLLER_PORT or stop it"
        )
    formatted = _kafka_mode_file(cfg).read_text().strip() if _kafka_mode_file(cfg).exists() else "plaintext"
    if (cfg.state_dir / "kafka-cluster-id").exists() and formatted != _kafka_mode(cfg):
        # SCRAM users are written when the storage is formatted: a plaintext broker's storage has none.
        raise StackError(
            f"{cfg.state_dir} holds a {formatted} broker; use another TAILOR_STATE_DIR for the "
            f"{_kafka_mode(cfg)} stack (`tailor local up{' --tls' if cfg.tls else ''}`)"
        )
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    props = cfg.state_dir / "kafka-server.properties"
    props.write_text(_kafka_properties(cfg))
    (cfg.state_dir / "kafka-log4j2.properties").write_text(LOG4J2)
    java = java_cmd(cfg)
    if running_pid(cfg, "kafka") is None:
        cluster_file = cfg.state_dir / "kafka-cluster-id"
        if not cluster_file.exists():
            cluster_file.write_text(new_cluster_id())
            _kafka_mode_file(cfg).write_text(_kafka_mode(cfg))
        format_storage(java, cluster_file.read_text().strip(), props, _scram_users(cfg))
        spawn(cfg, "kafka", [*java, "kafka.Kafka", str(props)])
    _wait(cfg, "kafka", kafka_ready, 120)
    return "started"


def _kafka_mode(cfg: StackConfig) -> str:
    return "tls" if cfg.tls else "plaintext"


def _kafka_mode_file(cfg: StackConfig) -> Path:
    """What the broker's storage was formatted for (absent: plaintext, as every stack before ADR 0027)."""
    return cfg.state_dir / "kafka-mode"


def format_storage(java: list[str], cluster_id: str, props: Path, extra: Sequence[str] = ()) -> None:
    """Format a node's log directory for the cluster id (a formatted one is left as it is)."""
    argv = [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), "--ignore-formatted"]
    argv += extra
    fmt = subprocess.run(argv, capture_output=True, text=True, check=False)
    if fmt.returncode != 0:
        raise StackError(f"formatting Kafka storage failed:\n{fmt.stdout}\n{fmt.stderr}")


def new_cluster_id() -> str:
    """A KRaft cluster id (22 URL-safe base64 characters). Never one starting with ``-``: the storage tool would
    read it as an option (Kafka's own generator skips those too); 1 id in 64 did, and the stack failed to start."""
    import base64

    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


def stop_process(cfg: StackConfig, name: str, timeout: float = 30.0) -> str:
    """SIGTERM by PID (Kafka does a controlled shutdown), SIGKILL only if it will not go."""
    pid = running_pid(cfg, name)
    if pid is None:
        cfg.pid_file(name).unlink(missing_ok=True)
        return "not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(cfg, name) is None:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
    reap(pid)
    cfg.pid_file(name).unlink(missing_ok=True)
    return "stopped"


def reap(pid: int) -> None:
    """Collect the exit status of a process this interpreter started (no-op for others)."""
    proc = _SPAWNED.pop(pid, None)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except (FileNotFoundError, IndexError):
        return True


@dataclass(frozen=True)
class ComponentStatus:
    name: str
    pid: int | None
    address: str
    ready: bool


def status(cfg: StackConfig) -> list[ComponentStatus]:
    return [
        ComponentStatus("kafka", running_pid(cfg, "kafka"), cfg.kafka_bootstrap, kafka_ready(cfg)),
        ComponentStatus("redis", running_pid(cfg, "redis"), cfg.redis_url, redis_ready(cfg)),
        ComponentStatus("s3", running_pid(cfg, "s3"), cfg.s3_endpoint, s3_ready(cfg)),
    ] + (
        [
            ComponentStatus(
                "schema-registry",
                running_pid(cfg, "schema-registry"),
                cfg.schema_registry_url,
                schema_registry_ready(cfg),
            )
        ]
        if cfg.schema_registry
        else []
    )


def up(cfg: StackConfig) -> dict[str, str]:
    """Start Redis, Kafka and S3 (idempotent) and return what was done for each."""
    from tailor_tools import identity

    identity.ensure(cfg.state_dir)  # the development identity every local service and client uses (ADR 0026)
    done = {"redis": start_redis(cfg), "kafka": start_kafka(cfg), "s3": start_s3(cfg)}
    ensure_bucket(cfg, S3_BUCKET)
    if cfg.schema_registry:
        done["schema-registry"] = start_schema_registry(cfg)
    return done


def down(cfg: StackConfig) -> dict[str, str]:
    done = {"kafka": stop_process(cfg, "kafka"), "redis": stop_process(cfg, "redis"), "s3": stop_process(cfg, "s3")}
    if cfg.schema_registry or running_pid(cfg, "schema-registry"):
        done["schema-registry"] = stop_process(cfg, "schema-registry")
    return done


def _belongs(name: str, prefix: str) -> bool:
    """Topics, consumer groups and Redis keys of a prefix: ``<prefix>.…`` (topics), ``<prefix>-…`` (Faust's
    internal topics and groups), ``<prefix>:…`` (Redis keys)."""
    return name == prefix or (name.startswith(prefix) and name[len(prefix)] in ".-:")


@dataclass(frozen=True)
class Purged:
    topics: int
    groups: int
    keys: int


def purge_prefix(cfg: StackConfig, prefix: str, timeout: float = 60.0) -> Purged:
    """Delete everything stored under a topic prefix: its topics, consumer groups and Redis keys.

    For tests (each deletes what it made) and for developers clearing old runs (``tailor local purge``).
    Call it once the processes using the prefix have stopped: it waits until the broker no longer lists the
    topics, so nobody sees them after it returns."""
    if not prefix or any(ch in prefix for ch in "*?[]\\"):
        raise ValueError(f"not a topic prefix: {prefix!r}")
    admin = AdminClient(cfg.kafka_client())
    groups = [g.group_id for g in admin.list_consumer_groups(request_timeout=30).result().valid]
    groups = [g for g in groups if _belongs(g, prefix)]
    if groups:
        for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
            with contextlib.suppress(KafkaException):  # a member still leaving: the group goes with its offsets
                future.result()
    deadline = time.monotonic() + timeout
    deleted: set[str] = set()
    while topics := [t for t in admin.list_topics(timeout=30).topics if _belongs(t, prefix)]:
        if time.monotonic() > deadline:
            raise StackError(f"topics of {prefix} still listed after {timeout:.0f}s: {sorted(topics)[:10]}")
        deleted.update(topics)
        for future in admin.delete_topics(topics, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):  # already being deleted
                future.result()
        time.sleep(0.2)
    client = redis.Redis.from_url(cfg.redis_url)
    keys = 0
    try:
        while batch := [k for k in client.scan_iter(match=f"{prefix}[-.:]*", count=1000)][:5000]:
            keys += int(client.unlink(*batch))
    finally:
        client.close()
    return Purged(len(deleted), len(groups), keys)


def logs(cfg: StackConfig, name: str, lines: int = 50) -> str:
    candidates = {"kafka": [cfg.log_dir / "kafka-server.log", cfg.log_file("kafka")], "redis": [cfg.log_file("redis")]}
    paths = candidates.get(name, [cfg.log_file(name)])
    return "\n".join(f"==> {p} <==\n{log_tail(p, lines)}" for p in paths)


# --- the services as processes (tailor local up --with-services) -------------------------------------------
SERVICES = ("control", "ingest", "stream", "trainer", "runtime", "gateway")


def service_env(cfg: StackConfig) -> dict[str, str]:
    """The environment every locally started service gets (absolute paths: services may run from anywhere)."""
    env = dict(os.environ)
    env.setdefault("TAILOR_KAFKA_BOOTSTRAP", cfg.kafka_bootstrap)
    env.setdefault("TAILOR_REDIS_URL", cfg.redis_url)
    env.setdefault("TAILOR_MODEL_STORE", str(cfg.state_dir / "models"))
    env.setdefault("TAILOR_STREAM_DATA_DIR", str(cfg.state_dir / "stream"))
    for name, value in cfg.s3_env().items():
        env.setdefault(name, value)
    if cfg.schema_registry:
        env.setdefault("TAILOR_SCHEMA_REGISTRY_URL", cfg.schema_registry_url)
    # The gateway forwards to the local ports; unless credentials are configured, every service accepts the
    # development identity of the state dir (tailor_tools.identity, docs/specs/auth.md), whose key the tools sign with.
    from tailor_shared.config import DEFAULT_PORTS
    from tailor_tools import identity

    for api, service in (("CONTROL", "control"), ("EVENTS", "ingest"), ("RUNTIME", "runtime")):
        port = env.get(f"TAILOR_{service.upper()}_PORT") or str(DEFAULT_PORTS[service][0])
        env.setdefault(f"TAILOR_GATEWAY_{api}_ADDRESS", f"127.0.0.1:{port}")
    if not env.get("TAILOR_CREDENTIALS_FILE"):
        for name, value in identity.ensure(cfg.state_dir).env().items():
            env.setdefault(name, value)
    if cfg.tls:
        for name, value in {**cfg.kafka_env(), **cfg.pki.grpc_env()}.items():
            env.setdefault(name, value)
    return env


def _service_ready(name: str, env: Mapping[str, str]) -> bool:
    from tailor_shared.healthcheck import serving

    return serving(name, env, timeout=1.0)


def start_services(cfg: StackConfig, names: Sequence[str] = SERVICES, timeout: float = 180.0) -> dict[str, str]:
    """Start each service unless it already answers; wait until all are healthy."""
    import sys

    env = service_env(cfg)
    result: dict[str, str] = {}
    for name in names:
        if running_pid(cfg, name) is not None and _service_ready(name, env):
            result[name] = "already running"
            continue
        if running_pid(cfg, name) is None:
            cfg.run_dir.mkdir(parents=True, exist_ok=True)
            cfg.log_dir.mkdir(parents=True, exist_ok=True)
            with open(cfg.log_file(name), "ab") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", f"tailor_{name}"],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    start_new_session=True,
                )
            cfg.pid_file(name).write_text(str(proc.pid))
        result[name] = "started"
    deadline = time.monotonic() + timeout
    for name in names:
        while not _service_ready(name, env):
            if running_pid(cfg, name) is None or time.monotonic() > deadline:
                raise StackError(f"{name} did not become healthy; last log lines:\n{log_tail(cfg.log_file(name), 30)}")
            time.sleep(0.3)
    return result


def stop_services(cfg: StackConfig) -> dict[str, str]:
    return {name: stop_process(cfg, name) for name in reversed(SERVICES)}


def service_status(cfg: StackConfig) -> list[ComponentStatus]:
    from tailor_shared.config import DEFAULT_PORTS

    env = service_env(cfg)
    return [
        ComponentStatus(n, running_pid(cfg, n), f"127.0.0.1:{DEFAULT_PORTS[n][0]}", _service_ready(n, env))
        for n in SERVICES
        if running_pid(cfg, n) is not None
    ]
