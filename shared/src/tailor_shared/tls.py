"""TLS for Tailor's own endpoints (ADR 0027): the one place that turns certificate files into gRPC server
credentials, client channel credentials and the gateway's HTTPS settings.

A process serves TLS when ``TAILOR_TLS_CERT_FILE`` and ``TAILOR_TLS_KEY_FILE`` name its certificate chain and
key (PEM; in Kubernetes a mounted ``kubernetes.io/tls`` Secret). It calls other Tailor services over TLS when
``TAILOR_TLS_CA_FILE`` names the CA bundle that signed their certificates, and verifies them against it (host
name included). ``TAILOR_TLS_CLIENT_AUTH=1`` additionally requires callers to present a certificate from that CA
(mutual TLS between services; callers are still authenticated by SigV4, ADR 0026). Health probes and metrics are
not on these ports' TLS: the gRPC health service shares the gRPC port (so it is TLS too), the metrics port stays
plain HTTP inside the cluster network.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from tailor_shared.errors import InvalidInputException

log = logging.getLogger(__name__)

CERT_FILE_ENV = "TAILOR_TLS_CERT_FILE"
KEY_FILE_ENV = "TAILOR_TLS_KEY_FILE"
CA_FILE_ENV = "TAILOR_TLS_CA_FILE"
CLIENT_AUTH_ENV = "TAILOR_TLS_CLIENT_AUTH"

_TRUE = ("1", "true", "yes", "on")


def _read(name: str, path: str) -> bytes:
    """A configured file, read when the server or channel is built (at start-up): a missing one stops the process
    with the setting's name rather than silently meaning 'no TLS'."""
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise InvalidInputException(f"{name}={path!r}: {err.strerror or err}") from None


@dataclass(frozen=True)
class TlsSettings:
    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    client_auth: bool = False

    def __post_init__(self) -> None:
        if (self.cert_file is None) != (self.key_file is None):
            raise InvalidInputException(f"set both {CERT_FILE_ENV} and {KEY_FILE_ENV}, or neither")
        if self.client_auth and (self.ca_file is None or self.cert_file is None):
            raise InvalidInputException(f"{CLIENT_AUTH_ENV}=1 needs {CERT_FILE_ENV}, {KEY_FILE_ENV} and {CA_FILE_ENV}")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> TlsSettings:
        e = os.environ if env is None else env
        return cls(
            cert_file=e.get(CERT_FILE_ENV) or None,
            key_file=e.get(KEY_FILE_ENV) or None,
            ca_file=e.get(CA_FILE_ENV) or None,
            client_auth=e.get(CLIENT_AUTH_ENV, "").strip().lower() in _TRUE,
        )

    @property
    def serves_tls(self) -> bool:
        return self.cert_file is not None

    def uvicorn_options(self) -> dict[str, Any]:
        """``uvicorn.Config`` keywords for HTTPS on the gateway (empty: plain HTTP)."""
        if not self.serves_tls:
            return {}
        options: dict[str, Any] = {"ssl_certfile": self.cert_file, "ssl_keyfile": self.key_file}
        if self.client_auth:
            options.update(ssl_ca_certs=self.ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
        return options


class CertificateFiles:
    """The server's certificate files and the fingerprint (size, mtime) they had when last loaded, so that a
    server follows them without a restart (cert-manager renewing the Secret, an operator replacing the files):
    gRPC asks before each new connection's handshake (``dynamic_ssl_server_credentials``), the gateway polls
    (``reload``). Connections already open keep their certificate. A changed set whose key does not match its
    certificate (files replaced one at a time) is not taken until it does."""

    def __init__(self, tls: TlsSettings) -> None:
        assert tls.cert_file is not None and tls.key_file is not None
        self.tls = tls
        self._paths = [p for p in (tls.key_file, tls.cert_file, tls.ca_file if tls.client_auth else None) if p]
        self._stamp = self._fingerprint()

    def _fingerprint(self) -> tuple[tuple[int, int], ...]:
        stats = []
        for path in self._paths:
            try:
                st = os.stat(path)
            except OSError:
                stats.append((-1, -1))
            else:
                stats.append((st.st_size, st.st_mtime_ns))
        return tuple(stats)

    def changed(self) -> bool:
        """True (once) when the files changed since they were last loaded and now hold a usable pair."""
        stamp = self._fingerprint()
        if stamp == self._stamp:
            return False
        try:
            _check_pair(self.tls)
        except (InvalidInputException, ValueError, OSError) as err:  # ssl.SSLError is an OSError
            log.warning("TLS certificate files changed but cannot be loaded; keeping the current ones: %s", err)
            return False
        self._stamp = stamp
        log.info("TLS certificate reloaded", extra={"certFile": self.tls.cert_file})
        return True

    def grpc_configuration(self) -> Any:
        tls = self.tls
        assert tls.cert_file is not None and tls.key_file is not None
        pair = (_read(KEY_FILE_ENV, tls.key_file), _read(CERT_FILE_ENV, tls.cert_file))
        roots = _read(CA_FILE_ENV, tls.ca_file) if tls.client_auth and tls.ca_file else None
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=roots)

    def grpc_fetch(self) -> Any:
        """gRPC's certificate configuration fetcher: the new configuration after a change, else None."""
        return self.grpc_configuration() if self.changed() else None

    def reload(self, context: ssl.SSLContext) -> None:
        """Load a changed certificate into ``context`` (the gateway's): new HTTPS connections use it."""
        if self.changed():
            assert self.tls.cert_file is not None
            context.load_cert_chain(self.tls.cert_file, self.tls.key_file)
            if self.tls.client_auth and self.tls.ca_file:
                context.load_verify_locations(self.tls.ca_file)


def _check_pair(tls: TlsSettings) -> None:
    """Raise unless the key matches the certificate (files replaced one at a time are briefly mismatched)."""
    assert tls.cert_file is not None and tls.key_file is not None
    ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(tls.cert_file, tls.key_file)


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """The gRPC server's TLS credentials, or None to serve plaintext (no certificate configured). They follow
    the certificate files: a renewed certificate is served from the next connection on, without a restart."""
    if not tls.serves_tls:
        return None
    files = CertificateFiles(tls)
    return grpc.dynamic_ssl_server_credentials(
        files.grpc_configuration(), files.grpc_fetch, require_client_authentication=tls.client_auth
    )


def channel_credentials(tls: TlsSettings) -> grpc.ChannelCredentials | None:
    """Credentials for calling a Tailor gRPC service: verify its certificate against ``ca_file`` (and present
    this process's own certificate when it has one, for mutual TLS); None = plaintext (no CA configured)."""
    if tls.ca_file is None:
        return None
    chain = key = None
    if tls.serves_tls:
        assert tls.cert_file is not None and tls.key_file is not None
        chain, key = _read(CERT_FILE_ENV, tls.cert_file), _read(KEY_FILE_ENV, tls.key_file)
    return grpc.ssl_channel_credentials(_read(CA_FILE_ENV, tls.ca_file), key, chain)
