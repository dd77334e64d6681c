"""``python -m tailor_shared.healthcheck <service>``: exit 0 when the service on this host reports SERVING.

Kubernetes' native gRPC probes cannot speak TLS, so with TLS on (ADR 0027) the Deployments probe with this
command: the gRPC health check of the service's own port over its own TLS settings (``TAILOR_TLS_CA_FILE``
verifies the certificate, which names ``127.0.0.1``); for the gateway ``GET /health`` over HTTPS.
"""

from __future__ import annotations

import os
import ssl
import sys
import urllib.request
from collections.abc import Mapping, Sequence

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor_shared.config import DEFAULT_PORTS
from tailor_shared.grpc_client import channel
from tailor_shared.tls import TlsSettings

#: Services whose port is HTTP with ``GET /health``.
HTTP_SERVICES = frozenset({"gateway", "stream"})


def serving(service: str, env: Mapping[str, str], timeout: float = 4.0) -> bool:
    port = env.get(f"TAILOR_{service.upper()}_PORT") or str(DEFAULT_PORTS[service][0])
    address = f"127.0.0.1:{port}"
    tls = TlsSettings.from_env(env)
    if service in HTTP_SERVICES:
        https = service == "gateway" and tls.serves_tls  # the stream's Faust web is plain HTTP
        context = ssl.create_default_context(cafile=tls.ca_file) if https else None
        try:
            url = f"{'https' if https else 'http'}://{address}/health"
            with urllib.request.urlopen(url, timeout=timeout, context=context) as reply:
                return bool(reply.status == 200)
        except OSError:
            return False
    probe = channel(address, tls=tls)  # health checks stay open: unsigned
    try:
        reply = health_pb2_grpc.HealthStub(probe).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
    finally:
        probe.close()


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in DEFAULT_PORTS:
        print(f"usage: python -m tailor_shared.healthcheck {{{','.join(DEFAULT_PORTS)}}}", file=sys.stderr)
        return 2
    return 0 if serving(args[0], os.environ) else 1


if __name__ == "__main__":
    sys.exit(main())
