"""The local stack's development CA and certificates (ADR 0027), made with ``cryptography``.

``ensure(directory)`` creates, once, ``ca.crt``/``ca.key`` (a CA valid for ten years) and ``server.crt``/
``server.key`` signed by it for the names a local or in-cluster Tailor process is reached by (``localhost``,
``127.0.0.1``, the services' Kubernetes names), plus ``server.p12`` (the same key and chain as a PKCS#12 keystore
for the Kafka broker, whose JVM reads it natively). For development and tests only: the CA key sits next to the
certificates, unencrypted, readable by its owner alone. Production certificates come from cert-manager or the
operator's own CA (k8s/components/tls).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tailor_tools.private_files import write_private

#: What the server certificate is valid for: loopback, and the Services of k8s/base in namespace ``tailor``.
SERVER_NAMES = (
    "localhost",
    *(
        name
        for svc in ("control", "ingest", "runtime", "gateway", "kafka", "redis")
        for name in (svc, f"{svc}.tailor", f"{svc}.tailor.svc", f"{svc}.tailor.svc.cluster.local")
    ),
)
SERVER_IPS = ("127.0.0.1", "::1")
#: The PKCS#12 keystore's password (the keystore holds a development key; Java refuses an empty password).
KEYSTORE_PASSWORD = "tailor-dev-keystore"


@dataclass(frozen=True)
class DevPki:
    directory: Path

    @property
    def ca_cert(self) -> Path:
        return self.directory / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.directory / "ca.key"

    @property
    def server_cert(self) -> Path:
        return self.directory / "server.crt"

    @property
    def server_key(self) -> Path:
        return self.directory / "server.key"

    @property
    def server_p12(self) -> Path:
        return self.directory / "server.p12"

    def grpc_env(self) -> dict[str, str]:
        """Serve TLS with the server certificate and call other services verifying with the CA."""
        return {
            "TAILOR_TLS_CERT_FILE": str(self.server_cert),
            "TAILOR_TLS_KEY_FILE": str(self.server_key),
            "TAILOR_TLS_CA_FILE": str(self.ca_cert),
        }


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tailor development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def ensure(directory: Path) -> DevPki:
    """The development CA and server certificate under ``directory`` (made on first use, then reused)."""
    pki = DevPki(directory)
    if all(p.exists() for p in (pki.ca_cert, pki.ca_key, pki.server_cert, pki.server_key, pki.server_p12)):
        return pki
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    start = now - datetime.timedelta(hours=1)  # tolerate a little clock skew between processes

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("Tailor development CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )  # keyCertSign, cRLSign
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVER_IPS]
    server = (
        x509.CertificateBuilder()
        .subject_name(_name("tailor"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + datetime.timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Server and client: the same certificate serves a port and authenticates a caller under mutual TLS.
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    write_private(pki.ca_key, _key_pem(ca_key))
    pki.ca_cert.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    write_private(pki.server_key, _key_pem(key))
    pki.server_cert.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    p12 = pkcs12.serialize_key_and_certificates(
        b"tailor", key, server, [ca], serialization.BestAvailableEncryption(KEYSTORE_PASSWORD.encode())
    )
    write_private(pki.server_p12, p12)
    return pki
