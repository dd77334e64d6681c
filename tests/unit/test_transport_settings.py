"""Transport security settings (ADR 0027): Kafka TLS + SASL/SCRAM client configs, gRPC/HTTP TLS settings, the
development CA, the secure local stack's broker properties, and secrets kept out of reprs and logs (issue 18
points 4 and 5). The real handshakes are in tests/integration/test_transport_security.py."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from tailor_shared import kafka
from tailor_shared.config import CommonSettings
from tailor_shared.errors import InvalidInputException
from tailor_shared.grpc_server import start_server
from tailor_shared.healthcheck import serving
from tailor_shared.kafka import KafkaSecurity
from tailor_shared.logs import JsonFormatter, redact
from tailor_shared.tls import TlsSettings, channel_credentials, server_credentials
from tailor_tools import devpki, localstack

SCRAM_ENV = {
    "TAILOR_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
    "TAILOR_KAFKA_SASL_USERNAME": "tailor",
    "TAILOR_KAFKA_SASL_PASSWORD": "kafka-pw-123",
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> devpki.DevPki:
    return devpki.ensure(tmp_path_factory.mktemp("pki"))


def test_plaintext_is_the_default_and_adds_nothing_but_the_protocol() -> None:
    security = KafkaSecurity.from_env({})
    assert security.protocol == "PLAINTEXT" and not security.sasl and not security.tls
    assert security.librdkafka() == {"security.protocol": "plaintext"}
    assert security.aiokafka() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_with_scram_for_librdkafka_and_aiokafka(pki: devpki.DevPki) -> None:
    security = KafkaSecurity.from_env({**SCRAM_ENV, "TAILOR_KAFKA_SSL_CA_FILE": str(pki.ca_cert)})
    assert security.librdkafka() == {
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "tailor",
        "sasl.password": "kafka-pw-123",
        "enable.ssl.certificate.verification": True,
        "ssl.endpoint.identification.algorithm": "https",
        "ssl.ca.location": str(pki.ca_cert),
    }
    aio = security.aiokafka()
    assert aio["security_protocol"] == "SASL_SSL" and aio["sasl_mechanism"] == "SCRAM-SHA-512"
    assert aio["sasl_plain_username"] == "tailor" and aio["sasl_plain_password"] == "kafka-pw-123"
    assert aio["ssl_context"].check_hostname  # the broker's name is verified, not only its chain
    assert "kafka-pw-123" not in repr(security)


def test_the_one_kafka_config_builder_applies_the_process_security(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SCRAM_ENV.items():
        monkeypatch.setenv(name, value)
    kafka.process_security.cache_clear()
    try:
        config = kafka.kafka_config("b:9093", **{"group.id": "g"})
        assert config["bootstrap.servers"] == "b:9093" and config["group.id"] == "g"
        assert config["security.protocol"] == "sasl_ssl" and config["sasl.username"] == "tailor"
        assert kafka.producer_config("b:9093")["sasl.password"] == "kafka-pw-123"
    finally:
        kafka.process_security.cache_clear()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TAILOR_KAFKA_SECURITY_PROTOCOL": "TLS"}, "use one of"),
        ({**SCRAM_ENV, "TAILOR_KAFKA_SASL_MECHANISM": "GSSAPI"}, "TAILOR_KAFKA_SASL_MECHANISM"),
        ({"TAILOR_KAFKA_SECURITY_PROTOCOL": "SSL", "TAILOR_KAFKA_SSL_CERT_FILE": "/x.pem"}, "or neither"),
    ],
)
def test_bad_kafka_security_stops_the_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(InvalidInputException, match=message):
        CommonSettings.from_env("ingest", 1, 2, env)


def test_sasl_without_credentials_stops_the_first_kafka_client_not_the_settings() -> None:
    """The gateway shares the deployment's Kafka settings but has no Kafka client and is given no password."""
    security = CommonSettings.from_env("gateway", 1, 2, {"TAILOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}).kafka_security
    assert security is not None
    for build in (security.librdkafka, security.aiokafka):
        with pytest.raises(InvalidInputException, match="needs TAILOR_KAFKA_SASL_USERNAME"):
            build()


def test_grpc_tls_settings(pki: devpki.DevPki) -> None:
    assert server_credentials(TlsSettings()) is None and channel_credentials(TlsSettings()) is None
    tls = TlsSettings.from_env(pki.grpc_env())
    assert tls.serves_tls and tls.ca_file == str(pki.ca_cert)
    assert isinstance(server_credentials(tls), grpc.ServerCredentials)
    assert isinstance(channel_credentials(tls), grpc.ChannelCredentials)
    assert tls.uvicorn_options() == {"ssl_certfile": str(pki.server_cert), "ssl_keyfile": str(pki.server_key)}
    with pytest.raises(InvalidInputException, match="or neither"):
        TlsSettings.from_env({"TAILOR_TLS_CERT_FILE": str(pki.server_cert)})
    with pytest.raises(InvalidInputException, match="No such file"):
        channel_credentials(TlsSettings.from_env({"TAILOR_TLS_CA_FILE": "/no/such/ca.crt"}))
    with pytest.raises(InvalidInputException, match="TAILOR_TLS_CLIENT_AUTH"):
        TlsSettings.from_env({"TAILOR_TLS_CLIENT_AUTH": "1", "TAILOR_TLS_CA_FILE": str(pki.ca_cert)})


def test_the_development_ca_signs_a_server_certificate_for_loopback_and_the_k8s_services(
    pki: devpki.DevPki, tmp_path: Path
) -> None:
    ca = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    server = x509.load_pem_x509_certificate(pki.server_cert.read_bytes())
    server.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {"localhost", "control", "runtime.tailor.svc", "kafka.tailor.svc.cluster.local"} <= set(
        names.get_values_for_type(x509.DNSName)
    )
    assert "127.0.0.1" in {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    assert isinstance(server.public_key(), ec.EllipticCurvePublicKey)
    for key in (pki.ca_key, pki.server_key, pki.server_p12):
        assert key.stat().st_mode & 0o077 == 0, f"{key.name} is readable by others"
    assert devpki.ensure(pki.directory).server_cert.read_bytes() == pki.server_cert.read_bytes()  # made once
    assert devpki.ensure(tmp_path).ca_cert.read_bytes() != pki.ca_cert.read_bytes()  # a new directory, a new CA


def test_the_secure_stack_listens_only_on_sasl_ssl_and_tls(tmp_path: Path) -> None:
    cfg = localstack.StackConfig(state_dir=tmp_path, kafka_port=19999, redis_port=16999, tls=True)
    props = localstack._kafka_properties(cfg)
    assert "listeners=SASL_SSL://127.0.0.1:19999,CONTROLLER://" in props and "PLAINTEXT://" not in props
    assert "sasl.enabled.mechanisms=SCRAM-SHA-512" in props and "ssl.keystore.type=PKCS12" in props
    users = localstack._scram_users(cfg)
    assert users[0] == "--add-scram" and users[1].startswith("SCRAM-SHA-512=[name=tailor,password=")
    redis_args = localstack._redis_tls_args(cfg)
    assert redis_args[:4] == ["--port", "0", "--tls-port", "16999"]  # no plaintext port
    assert redis_args[-3:] == ["--user", "default", "off"]
    assert cfg.redis_url.startswith("rediss://tailor:") and cfg.kafka_env()["TAILOR_KAFKA_SECURITY_PROTOCOL"]
    plain = localstack.StackConfig(state_dir=tmp_path / "plain")
    assert "SASL" not in localstack._kafka_properties(plain) and localstack._scram_users(plain) == []
    assert plain.kafka_env() == {} and plain.redis_url == "redis://127.0.0.1:6379/0"


def test_settings_reprs_hold_no_secret() -> None:
    env = {
        **SCRAM_ENV,
        "TAILOR_REDIS_URL": "rediss://tailor:redis-pw-456@redis:6380/0",
        "TAILOR_S3_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "TAILOR_S3_SECRET_ACCESS_KEY": "s3-secret-789",
    }
    dump = repr(CommonSettings.from_env("stream", 1, 2, env))
    for secret in ("kafka-pw-123", "redis-pw-456", "s3-secret-789"):
        assert secret not in dump
    assert "sasl_username='tailor'" in dump  # the rest stays visible for debugging


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rediss://tailor:pw1@h:6380/0?ssl_ca_certs=/ca", "rediss://tailor:***@h:6380/0?ssl_ca_certs=/ca"),
        ("redis+sentinel://:pw2@s1:26379,s2:26379/mymaster", "redis+sentinel://:***@s1:26379,s2:26379/mymaster"),
        ("{'sasl.password': 'pw3', 'sasl.username': 'u'}", "{'sasl.password': '***', 'sasl.username': 'u'}"),
        ("secret_access_key='pw4' region='x'", "secret_access_key='***' region='x'"),
        ('{"password": "pw5"}', '{"password": "***"}'),
        ("redis://127.0.0.1:6379/0 and secret_access_key=None", "redis://127.0.0.1:6379/0 and secret_access_key=None"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_json_logs_redact_messages_extras_and_tracebacks() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("test"))
    log = logging.getLogger("tailor.test.redaction")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.warning(
            "connecting to %s", "rediss://tailor:pw-a@redis:6380/0", extra={"config": {"sasl.password": "pw-b"}}
        )
        try:
            raise ConnectionError("cannot reach rediss://tailor:pw-c@redis:6380/0")
        except ConnectionError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = out.getvalue()
    assert "pw-a" not in text and "pw-b" not in text and "pw-c" not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["msg"] == "connecting to rediss://tailor:***@redis:6380/0"
    assert "***" in lines[0]["config"] and "***" in lines[1]["exc"]


async def test_grpc_server_tls_and_mutual_tls_handshakes(pki: devpki.DevPki, tmp_path: Path) -> None:
    """Real handshakes on loopback through ``start_server`` and the health probe of k8s/components/tls
    (``tailor_shared.healthcheck``): the CA's clients get in, plaintext and other CAs do not; with client auth, a
    client must also present a certificate from the CA."""
    other = devpki.ensure(tmp_path / "other")
    for client_auth in (False, True):
        server_env = {**pki.grpc_env(), "TAILOR_TLS_CLIENT_AUTH": "1" if client_auth else ""}
        settings = CommonSettings(service="unittest", grpc_port=0, tls=TlsSettings.from_env(server_env))
        handle = await start_server(settings, [])
        try:
            port = {"TAILOR_CONTROL_PORT": str(handle.port)}
            with_cert = {**port, **pki.grpc_env()}
            ca_only = {**port, "TAILOR_TLS_CA_FILE": str(pki.ca_cert)}
            stranger = {**port, "TAILOR_TLS_CA_FILE": str(other.ca_cert)}
            assert await asyncio.to_thread(serving, "control", with_cert)
            assert await asyncio.to_thread(serving, "control", ca_only) is not client_auth
            assert not await asyncio.to_thread(serving, "control", stranger)
            assert not await asyncio.to_thread(serving, "control", port)  # plaintext
        finally:
            await handle.stop(0)


def test_a_bad_redis_url_is_reported_without_its_password() -> None:
    from tailor_shared.redis_client import parse_sentinel_url

    with pytest.raises(InvalidInputException) as bad:
        parse_sentinel_url("redis+sentinel://:pw-d@s1:26379/")
    assert "pw-d" not in str(bad.value) and ":***@" in str(bad.value)
