"""The one way a Tailor process opens a gRPC channel to a Tailor API (sync or ``grpc.aio``).

Every client — the tools' :class:`~tailor_tools.client.Client`, the demo, the tests, the benchmarks and the
gateway's backends — opens its channels here, so how a channel authenticates (SigV4 per call with a
``credential``, ADR 0026) and encrypts (TLS with ``tls`` naming a CA, ``tailor_shared.tls``, ADR 0027) is decided
in one place. Without a credential the channel is unsigned: health checks,
and the gateway, which signs each forwarded call with its caller's key itself.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import grpc

from tailor_shared import tls as transport
from tailor_shared.auth import Credential
from tailor_shared.grpc_auth import AioSigningInterceptor, SigningInterceptor

Options = Sequence[tuple[str, Any]]


def channel(
    address: str,
    credential: Credential | None = None,
    region: str = "us-east-1",
    options: Options = (),
    tls: transport.TlsSettings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> grpc.Channel:
    """A sync channel to ``address`` (TLS when ``tls`` names a CA); with ``credential`` every unary call is signed
    for ``region`` (at ``clock()``'s time when given: tests of expired signatures)."""
    creds = transport.channel_credentials(tls or transport.TlsSettings())
    opts = list(options)
    base = grpc.insecure_channel(address, opts) if creds is None else grpc.secure_channel(address, creds, opts)
    if credential is None:
        return base
    return grpc.intercept_channel(base, SigningInterceptor(credential, region, clock))


def aio_channel(
    address: str,
    credential: Credential | None = None,
    region: str = "us-east-1",
    options: Options = (),
    tls: transport.TlsSettings | None = None,
) -> grpc.aio.Channel:
    """A ``grpc.aio`` channel to ``address`` (TLS when ``tls`` names a CA); with ``credential`` every unary call
    is signed for ``region``."""
    interceptors = [AioSigningInterceptor(credential, region)] if credential is not None else None
    creds = transport.channel_credentials(tls or transport.TlsSettings())
    if creds is None:
        return grpc.aio.insecure_channel(address, list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(address, creds, list(options), interceptors=interceptors)
