"""Wires the ingest service: the Personalize Events gRPC API."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from tailor.events.v1 import events_pb2_grpc
from tailor_ingest.config import IngestSettings
from tailor_shared.grpc_server import GrpcService


async def build(settings: IngestSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    servicer = events_pb2_grpc.PersonalizeEventsServicer()
    return [GrpcService(events_pb2_grpc.add_PersonalizeEventsServicer_to_server, servicer,
                        "tailor.events.v1.PersonalizeEvents")], []
