"""Encryption in transit (issue 18 point 4, ADR 0027) on a secure stack the project's own code starts beside the
shared one: a KRaft broker whose only client listener is SASL_SSL (SCRAM-SHA-512 users made by the storage tool's
``--add-scram``), a Redis server with only a TLS port and an ACL user, both with certificates of the development
CA. Control, ingest, stream and the gateway run on it with TLS on their own ports: boto3 → HTTPS gateway → TLS gRPC
control; PutEvents over TLS gRPC → SASL_SSL Kafka → the stream → Redis over TLS as the ACL user. Wrong passwords,
plaintext clients and an unknown CA are refused, and no password appears in any service's log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import redis
from botocore.config import Config
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from tailor_shared.healthcheck import serving
from tailor_shared.incarnation import new_incarnation
from tailor_shared.kafka import account_user, grant_dataset_group, revoke_dataset_group, set_account_password
from tailor_shared.resource_view import resources_topic
from tailor_shared.schemas import avro_record
from tailor_shared.tls import TlsSettings
from tailor_shared.topics import dataset_group_topic_prefix, dataset_topic_for, inbound_topic
from tailor_tools import devpki, localstack, seed
from tailor_tools.client import Client, health_serving
from tailor_tools.identity import default_credential
from tailor_tools.ports import free_port
from tests.conftest import GRPC_HEALTH_NAMES, RunningService, launch, new_prefix

pytestmark = pytest.mark.integration

SCHEMA = avro_record("Interactions", "USER_ID", "ITEM_ID", "EVENT_TYPE", "TIMESTAMP")


@pytest.fixture(scope="module")
def secure_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localstack.StackConfig]:
    """Kafka (SASL_SSL only) and Redis (TLS only) on free ports under a fresh state directory; stopped and removed
    afterwards. The Kafka jars are the shared stack's."""
    state = tmp_path_factory.mktemp("secure-stack")
    cfg = localstack.StackConfig(
        state_dir=state, kafka_port=free_port(), controller_port=free_port(), redis_port=free_port(), tls=True
    )
    (state / "kafka-libs").symlink_to(localstack.StackConfig.from_env().kafka_libs)
    try:
        localstack.start_redis(cfg)
        localstack.start_kafka(cfg)
        yield cfg
    finally:
        for name in ("kafka", "redis"):
            localstack.stop_process(cfg, name)
        shutil.rmtree(state, ignore_errors=True)


def _wait_serving(svc: RunningService, timeout: float = 90) -> None:
    """Through the health probe of k8s/components/tls (``tailor_shared.healthcheck``): gRPC health over the
    service's own TLS settings, HTTPS for the gateway, plain HTTP for the stream's Faust web."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and svc.proc.poll() is None:
        if serving(svc.name, svc.env, timeout=1.0):
            return
        time.sleep(0.2)
    pytest.fail(f"{svc.name} did not become SERVING; log:\n{svc.log()[-4000:]}", pytrace=False)


def _kafka_refusal(config: dict[str, Any]) -> list[int]:
    """The error codes a client with ``config`` gets from the secure broker; raises if it is let in."""
    errors: list[KafkaError] = []
    admin = AdminClient(cast(Any, {**config, "error_cb": errors.append}))
    with pytest.raises(KafkaException):
        admin.list_topics(timeout=4)
    admin.poll(1)
    return [e.code() for e in errors]


def test_services_run_end_to_end_over_tls_and_authenticated_kafka_and_redis(
    secure_stack: localstack.StackConfig, tmp_path: Path
) -> None:
    cfg = secure_stack
    pki = cfg.pki
    prefix = new_prefix("tls")
    tls = TlsSettings(ca_file=str(pki.ca_cert))
    kafka_password = cfg.kafka_env()["TAILOR_KAFKA_SASL_PASSWORD"]
    redis_password = localstack.dev_secret(cfg, "redis")
    env = {
        "TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "TAILOR_REDIS_URL": cfg.redis_url,
        "TAILOR_TOPIC_PREFIX": prefix,
        "TAILOR_MODEL_STORE": str(tmp_path / "models"),
        **cfg.kafka_env(),
        **pki.grpc_env(),
    }
    started: list[RunningService] = []

    def start(name: str, **extra: str) -> RunningService:
        svc = launch(name, env, tmp_path / f"{name}.log", **extra)
        started.append(svc)
        return svc

    try:
        control = start("control")
        ingest = start("ingest", TAILOR_KAFKA_TENANT_ACLS="1")
        stream = start("stream", TAILOR_STREAM_DATA_DIR=str(tmp_path / "stream"), TAILOR_STREAM_JANITOR_INTERVAL_S="0")
        gateway = start("gateway", TAILOR_GATEWAY_CONTROL_ADDRESS=control.address, TAILOR_LOG_LEVEL="DEBUG")
        for svc in started:
            _wait_serving(svc)
        # The Kubernetes probe command itself: 0 with the Pod's TLS settings, 1 without them (plaintext is refused).
        probe = [sys.executable, "-m", "tailor_shared.healthcheck", "control"]
        assert subprocess.run(probe, env=control.env, timeout=60).returncode == 0
        plain_env = {k: v for k, v in control.env.items() if not k.startswith("TAILOR_TLS_")}
        assert subprocess.run(probe, env=plain_env, timeout=60).returncode == 1

        # boto3 → HTTPS gateway (verified with the development CA) → TLS gRPC control → SASL_SSL Kafka, signed
        # with the development identity every launched service accepts (ADR 0026).
        dev = default_credential()
        personalize = boto3.client(
            "personalize",
            endpoint_url=f"https://{gateway.address}",
            region_name="us-east-1",
            aws_access_key_id=dev.access_key_id,
            aws_secret_access_key=dev.secret_access_key,
            verify=str(pki.ca_cert),
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        group_arn = personalize.create_dataset_group(name="tls-shop")["datasetGroupArn"]

        control_client = Client(control.address, "control", tls=tls)
        events = Client(ingest.address, "events", tls=tls)
        try:
            control_client.wait_for("DescribeDatasetGroup", "datasetGroup", datasetGroupArn=group_arn)
            schema_arn = control_client.call("CreateSchema", name="tls-clicks", schema=json.dumps(SCHEMA))["schemaArn"]
            dataset_arn = control_client.call(
                "CreateDataset",
                name="clicks",
                schemaArn=schema_arn,
                datasetGroupArn=group_arn,
                datasetType="Interactions",
            )["datasetArn"]
            control_client.wait_for("DescribeDataset", "dataset", datasetArn=dataset_arn)
            tracker = control_client.call("CreateEventTracker", name="web", datasetGroupArn=group_arn)
            control_client.wait_for("DescribeEventTracker", "eventTracker", eventTrackerArn=tracker["eventTrackerArn"])

            # PutEvents over TLS gRPC → ingest → SASL_SSL Kafka → stream → Redis over TLS as the ACL user.
            deadline = time.monotonic() + 30
            while True:
                try:
                    events.call(
                        "PutEvents",
                        trackingId=tracker["trackingId"],
                        sessionId="s-tls",
                        userId="u-tls",
                        eventList=[{"eventType": "click", "itemId": "i-tls", "sentAt": int(time.time())}],
                    )
                    break
                except Exception:  # ingest's resource view follows control's topic a moment behind
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
        finally:
            control_client.close()
            events.close()

        # Ingest granted the group's account its topic prefix (ADR 0034), as Tailor's own Kafka user.
        account = group_arn.split(":")[4]
        wanted = AclBindingFilter(  # None: any name, any host (the stubs say str)
            ResourceType.TOPIC,
            cast(str, None),
            ResourcePatternType.PREFIXED,
            f"User:{account_user(account)}",
            cast(str, None),
            AclOperation.ANY,
            AclPermissionType.ANY,
        )
        admin = AdminClient(cfg.kafka_client())
        deadline = time.monotonic() + 30
        while not (acls := admin.describe_acls(wanted).result(timeout=30)):
            assert time.monotonic() < deadline, f"ingest granted no ACL; log:\n{ingest.log()[-3000:]}"
            time.sleep(0.5)
        assert {(a.name.startswith(f"{prefix}.tls-shop."), a.operation) for a in acls} == {
            (True, AclOperation.WRITE),
            (True, AclOperation.DESCRIBE),
        }

        store = redis.Redis.from_url(cfg.redis_url, decode_responses=True)
        try:
            assert store.acl_whoami() == "tailor"
            deadline = time.monotonic() + 60
            while not any("u-tls" in key for key in store.scan_iter(match=f"{prefix}:*", count=1000)):
                assert time.monotonic() < deadline, f"the stream wrote nothing for u-tls; log:\n{stream.log()[-3000:]}"
                time.sleep(0.2)
        finally:
            store.close()

        # A plaintext gRPC client and a client trusting another CA are refused by control.
        plain = Client(control.address, "control", timeout=5)
        other_ca = devpki.ensure(tmp_path / "other-ca")
        stranger = Client(control.address, "control", timeout=5, tls=TlsSettings(ca_file=str(other_ca.ca_cert)))
        for client in (plain, stranger):
            try:
                with pytest.raises(Exception) as refused:
                    client.call("ListDatasetGroups")
                assert "UNAVAILABLE" in repr(refused.value) or "ServiceUnavailable" in type(refused.value).__name__
            finally:
                client.close()
        assert not health_serving(control.address, GRPC_HEALTH_NAMES["control"])  # no plaintext health either
        # The gateway speaks HTTPS only.
        with pytest.raises(OSError):
            urllib.request.urlopen(f"http://{gateway.address}/health", timeout=2).close()
    finally:
        for svc in started:
            svc.stop()

    # No service logged a password, even at DEBUG (the gateway) and through client libraries' errors.
    for svc in started:
        log = svc.log()
        assert kafka_password not in log and redis_password not in log, f"{svc.name} logged a secret"
    # Everything this test made lives on the secure stack, which the fixture removes; the shared stack is untouched.


def test_kafka_and_redis_refuse_wrong_passwords_and_plaintext(secure_stack: localstack.StackConfig) -> None:
    cfg = secure_stack
    good = cfg.kafka_client()
    assert AdminClient(good).list_topics(timeout=30).brokers  # the right user over TLS is let in
    assert KafkaError._AUTHENTICATION in _kafka_refusal({**good, "sasl.password": "wrong"})
    assert _kafka_refusal({**good, "sasl.username": "nobody"})  # an unknown SCRAM user
    assert _kafka_refusal({"bootstrap.servers": cfg.kafka_bootstrap})  # plaintext to the SASL_SSL listener
    assert _kafka_refusal({**good, "security.protocol": "sasl_plaintext"})  # SASL without TLS
    other_ca = devpki.ensure(cfg.state_dir / "other-ca")
    assert _kafka_refusal({**good, "ssl.ca.location": str(other_ca.ca_cert)})  # a broker we cannot verify

    store = redis.Redis.from_url(cfg.redis_url, socket_timeout=5)
    try:
        assert store.ping()
    finally:
        store.close()
    port, ca = cfg.redis_port, cfg.pki.ca_cert
    refusals: list[tuple[str, type[Exception]]] = [
        (f"rediss://tailor:wrong@127.0.0.1:{port}/0?ssl_ca_certs={ca}", redis.AuthenticationError),
        (f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={ca}", redis.AuthenticationError),  # the default user is off
        (f"redis://tailor:{localstack.dev_secret(cfg, 'redis')}@127.0.0.1:{port}/0", redis.ConnectionError),
        (
            f"rediss://tailor:{localstack.dev_secret(cfg, 'redis')}@127.0.0.1:{port}/0?ssl_ca_certs={other_ca.ca_cert}",
            redis.ConnectionError,
        ),
    ]
    for url, error in refusals:
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            with pytest.raises(error):
                client.ping()
        finally:
            client.close()


def test_a_secure_stack_refuses_a_state_directory_formatted_for_plaintext(
    secure_stack: localstack.StackConfig,
) -> None:
    """SCRAM users are written when the broker's storage is formatted, so one state directory is one mode."""
    plain = replace(secure_stack, tls=False, kafka_port=free_port(), controller_port=free_port())
    with pytest.raises(localstack.StackError, match="holds a tls broker"):
        localstack.start_kafka(plain)


def _produce(config: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """One acknowledged write; the delivery error (None when written)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "message.timeout.ms": 10000})
    producer.produce(topic, key=b"u1", value=value, on_delivery=lambda err, _msg: outcome.append(err))
    producer.flush(15)
    assert outcome, f"no delivery report for {topic}"
    return outcome[0]


def _record_count(config: dict[str, Any], topic: str) -> int:
    consumer = Consumer({**config, "group.id": "acl-check", "enable.auto.commit": False})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in meta.partitions)
    finally:
        consumer.close()


def test_an_accounts_producer_writes_only_its_own_dataset_groups_topics(
    secure_stack: localstack.StackConfig,
) -> None:
    """Issue 18 point 3 for Kafka (ADR 0034): account A's SCRAM user, granted its group's topic prefix, writes
    its dataset and inbound topics and is refused (TOPIC_AUTHORIZATION_FAILED) on account B's, whose topics
    stay empty; revoking A's grant refuses A's own topic too."""
    cfg = secure_stack
    admin_config = cfg.kafka_client()
    prefix = new_prefix("acl")
    accounts = {"a": "111111111111", "b": "222222222222"}
    groups = {k: {"name": f"shop{k}", "_incarnation": new_incarnation()} for k in accounts}
    topics = {
        k: dataset_topic_for(prefix, g, {"datasetType": "INTERACTIONS", "_incarnation": new_incarnation()})
        for k, g in groups.items()
    }
    inbound = {k: inbound_topic(prefix, g, "events") for k, g in groups.items()}
    admin = AdminClient(admin_config)
    created = [*topics.values(), *inbound.values()]
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in created]).values():
        future.result(timeout=30)
    passwords = {k: f"pw-{k}-{new_incarnation()}" for k in accounts}
    try:
        for k, account in accounts.items():
            set_account_password(admin_config, account, passwords[k])
            grant_dataset_group(admin_config, dataset_group_topic_prefix(prefix, groups[k]), account)
        as_a = {**admin_config, "sasl.username": account_user(accounts["a"]), "sasl.password": passwords["a"]}

        deadline = time.monotonic() + 30  # the SCRAM user and the ACLs reach the broker's metadata cache
        while (err := _produce(as_a, topics["a"], b"a-row")) is not None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert err is None, err
        assert _produce(as_a, inbound["a"], b'{"userId": "u1"}') is None
        for topic in (topics["b"], inbound["b"]):
            refused = _produce(as_a, topic, b"a-row-into-b")
            assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
        unrelated = (
            f"{prefix}.{groups['a']['name']}.{new_incarnation()}.inbound.events"  # A's name, another incarnation
        )
        refused = _produce(as_a, unrelated, b"x")
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
        assert unrelated not in admin.list_topics(timeout=10).topics  # no CREATE either
        assert _record_count(admin_config, topics["a"]) == 1 and _record_count(admin_config, inbound["a"]) == 1
        assert _record_count(admin_config, topics["b"]) == 0 and _record_count(admin_config, inbound["b"]) == 0

        revoke_dataset_group(admin_config, dataset_group_topic_prefix(prefix, groups["a"]), accounts["a"])
        deadline = time.monotonic() + 30
        while (err := _produce(as_a, topics["a"], b"late")) is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert err is not None and err.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, err
    finally:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)
        revoke_dataset_group(admin_config, dataset_group_topic_prefix(prefix, groups["b"]), accounts["b"])


def test_the_tailor_cli_gives_an_account_its_kafka_user_and_its_groups_topics(
    secure_stack: localstack.StackConfig, tmp_path: Path
) -> None:
    """`tailor kafka-account` (ADR 0034) on the secure broker: it generates the account's password into an
    owner-only file (never printed), sets its SCRAM user, and grants exactly the account's live dataset groups:
    the user writes its group's topic and is refused another account's."""
    cfg = secure_stack
    admin_config = cfg.kafka_client()
    prefix = new_prefix("cliacl")
    schema = {"Interactions": avro_record("Interactions", "USER_ID", "ITEM_ID", "TIMESTAMP")}
    mine = seed.group_records("mine", schema, account="111111111111")
    theirs = seed.group_records("theirs", schema, account="222222222222")
    created = [resources_topic(prefix), mine.topic(prefix, "Interactions"), theirs.topic(prefix, "Interactions")]
    admin = AdminClient(admin_config)
    for future in admin.create_topics([NewTopic(t, num_partitions=1, replication_factor=1) for t in created]).values():
        future.result(timeout=30)
    records = Producer(admin_config)
    for record in (*mine.records, *theirs.records):
        records.produce(resources_topic(prefix), record.to_json(), record.arn.encode())
    assert records.flush(30) == 0
    password_file = tmp_path / "acct.pw"
    env = {
        **os.environ,
        **cfg.kafka_env(),
        "TAILOR_KAFKA_BOOTSTRAP": cfg.kafka_bootstrap,
        "TAILOR_TOPIC_PREFIX": prefix,
    }
    cli = [sys.executable, "-m", "tailor_tools.cli", "kafka-account"]
    secret = ["--password-file", str(password_file)]
    try:
        run = subprocess.run([*cli, "111111111111", *secret], env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        password = password_file.read_text()
        assert password_file.stat().st_mode & 0o777 == 0o600 and password not in run.stdout + run.stderr
        granted = dataset_group_topic_prefix(prefix, mine.record(mine.group_arn))
        assert f"granted WRITE, DESCRIBE on topics {granted}*" in run.stdout
        assert dataset_group_topic_prefix(prefix, theirs.record(theirs.group_arn)) not in run.stdout
        as_account = {**admin_config, "sasl.username": account_user("111111111111"), "sasl.password": password}
        deadline = time.monotonic() + 30  # the SCRAM user and the ACLs reach the broker's metadata cache
        while (err := _produce(as_account, mine.topic(prefix, "Interactions"), b"row")) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert err is None, err
        refused = _produce(as_account, theirs.topic(prefix, "Interactions"), b"row-into-theirs")
        assert refused is not None and refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
        assert _record_count(admin_config, theirs.topic(prefix, "Interactions")) == 0
        bad = subprocess.run([*cli, "12", *secret], env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 2 and "not 12 digits" in bad.stderr
    finally:
        for future in admin.delete_topics(created).values():
            future.result(timeout=30)
        revoke_dataset_group(
            admin_config, dataset_group_topic_prefix(prefix, mine.record(mine.group_arn)), "111111111111"
        )
