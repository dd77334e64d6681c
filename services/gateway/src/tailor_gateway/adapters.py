"""The gateway's outside world: botocore's service models (package data) and the gRPC channels."""

from __future__ import annotations

from dataclasses import dataclass

import botocore.session
import grpc
from botocore.model import ServiceModel

from tailor_gateway.domain.operations import APIS, Forwarded
from tailor_shared import grpc_client
from tailor_shared.tls import TlsSettings

SERVICE_NAMES = tuple(name for name, _module, _service in APIS.values())


def load_models() -> dict[str, ServiceModel]:
    """botocore's own models of the three Personalize APIs (shipped inside the botocore package)."""
    session = botocore.session.get_session()
    return {name: session.get_service_model(name) for name in SERVICE_NAMES}


@dataclass
class Backends:
    """One asyncio gRPC channel per API (control, events, runtime), opened inside the serving loop."""

    channels: dict[str, grpc.aio.Channel]

    @classmethod
    def open(cls, addresses: dict[str, str], tls: TlsSettings) -> Backends:
        """TLS to the backends when ``TAILOR_TLS_CA_FILE`` is set (ADR 0027)."""
        options = [("grpc.enable_retries", 1), ("grpc.keepalive_time_ms", 30_000)]
        # Unsigned channels: each forwarded call carries its caller's own signature (ADR 0026 §8).
        return cls(
            {api: grpc_client.aio_channel(address, options=options, tls=tls) for api, address in addresses.items()}
        )

    def method(self, op: Forwarded) -> grpc.aio.UnaryUnaryMultiCallable:
        return self.channels[op.api].unary_unary(
            op.grpc_method,
            request_serializer=op.request_type.SerializeToString,
            response_deserializer=op.response_type.FromString,
        )

    async def close(self) -> None:
        for channel in self.channels.values():
            await channel.close()
