"""Wires the runtime service: the Personalize Runtime gRPC API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from tailor.runtime.v1 import runtime_pb2_grpc
from tailor_runtime.config import RuntimeSettings
from tailor_shared.grpc_server import GrpcService


async def build(settings: RuntimeSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    servicer = runtime_pb2_grpc.PersonalizeRuntimeServicer()
    return [GrpcService(runtime_pb2_grpc.add_PersonalizeRuntimeServicer_to_server, servicer,
                        "tailor.runtime.v1.PersonalizeRuntime")], []
