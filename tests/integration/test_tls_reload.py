"""Certificates are reloaded without a restart (issue 18, ADR 0027): a gRPC server built with
``tailor_shared.tls.server_credentials`` serves the certificate its files hold at each new connection, and the
gateway's HTTPS context (``CertificateFiles.reload``) does the same. Real TLS handshakes on loopback, two
development CAs: after the files are replaced, a client trusting only the new CA connects and one trusting only
the old CA is refused; a half-replaced set (new certificate, old key) is not taken."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import threading
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tailor_shared.tls import CertificateFiles, TlsSettings, server_credentials
from tailor_tools import devpki

pytestmark = pytest.mark.integration


def _install(pki: devpki.DevPki, serving: Path, key: bool = True) -> None:
    """Replace the served files the way a renewal does: written aside, then renamed over the old ones."""
    pairs = [(pki.server_cert, serving / "server.crt")] + ([(pki.server_key, serving / "server.key")] if key else [])
    for source, target in pairs:
        shutil.copyfile(source, target.with_suffix(".tmp"))
        target.with_suffix(".tmp").replace(target)


async def _serving(port: int, ca: bytes) -> bool:
    credentials = grpc.ssl_channel_credentials(root_certificates=ca)
    async with grpc.aio.secure_channel(f"localhost:{port}", credentials) as channel:
        try:
            reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
        except grpc.aio.AioRpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE, err  # the handshake failed
            return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def test_a_grpc_server_serves_a_replaced_certificate_without_a_restart(tmp_path: Path) -> None:
    old, new = devpki.ensure(tmp_path / "old"), devpki.ensure(tmp_path / "new")
    serving = tmp_path / "serving"
    serving.mkdir()
    _install(old, serving)
    tls = TlsSettings(str(serving / "server.crt"), str(serving / "server.key"))
    old_ca, new_ca = old.ca_cert.read_bytes(), new.ca_cert.read_bytes()

    async def scenario() -> None:
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
        credentials = server_credentials(tls)
        assert credentials is not None
        port = server.add_secure_port("127.0.0.1:0", credentials)
        await server.start()
        try:
            assert await _serving(port, old_ca)
            assert not await _serving(port, new_ca)
            _install(new, serving, key=False)  # half-way: the new certificate with the old key is not taken
            assert await _serving(port, old_ca)
            _install(new, serving)
            assert await _serving(port, new_ca)
            assert not await _serving(port, old_ca)
        finally:
            await server.stop(None)

    asyncio.run(scenario())


def _handshake(port: int, ca: Path) -> bool:
    context = ssl.create_default_context(cafile=str(ca))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        try:
            with context.wrap_socket(raw, server_hostname="localhost"):
                return True
        except ssl.SSLCertVerificationError:
            return False


def test_the_gateways_https_context_follows_the_certificate_files(tmp_path: Path) -> None:
    old, new = devpki.ensure(tmp_path / "old"), devpki.ensure(tmp_path / "new")
    serving = tmp_path / "serving"
    serving.mkdir()
    _install(old, serving)
    tls = TlsSettings(str(serving / "server.crt"), str(serving / "server.key"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # what uvicorn builds from the same files
    context.load_cert_chain(str(serving / "server.crt"), str(serving / "server.key"))
    files = CertificateFiles(tls)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)  # the accept loop looks at ``stop`` between connections
    port = listener.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(10)
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        assert _handshake(port, old.ca_cert) and not _handshake(port, new.ca_cert)
        files.reload(context)  # nothing changed: nothing loaded
        assert _handshake(port, old.ca_cert)
        _install(new, serving)
        files.reload(context)
        assert _handshake(port, new.ca_cert) and not _handshake(port, old.ca_cert)
    finally:
        stop.set()
        thread.join(timeout=10)
        listener.close()
