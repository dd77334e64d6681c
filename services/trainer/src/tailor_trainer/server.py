"""Wires the trainer: a job worker with a gRPC health endpoint (it serves no API of its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from tailor_shared.grpc_server import GrpcService
from tailor_trainer.config import TrainerSettings


async def build(settings: TrainerSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    return [], []
