"""The Personalize control-plane gRPC servicer: every RPC is one generic path into the domain.

Protobuf field names are Personalize's (snake_case), so ``MessageToDict`` gives the exact camelCase
request a Personalize user sends, and ``ParseDict`` turns the domain's response back. All mutations
are serialised by one lock: control is the single writer, and validation must see every earlier write.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message

from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor_control import domain
from tailor_control.adapters import ResourceWriter
from tailor_control.domain.shapes import to_proto_json
from tailor_shared.config import CommonSettings
from tailor_shared.resource_view import ResourceView

log = logging.getLogger(__name__)

SERVICE_NAME = "tailor.control.v1.PersonalizeControl"
_READ_ONLY_PREFIXES = ("Describe", "List", "Get")


class ControlHandlers:
    def __init__(
        self, settings: CommonSettings, view: ResourceView, writer: ResourceWriter, quotas: domain.Quotas
    ) -> None:
        self._settings = settings
        self._quotas = quotas
        self._view = view
        self._writer = writer
        self._lock = asyncio.Lock()

    def _ctx(self) -> domain.Context:
        return domain.Context(
            region=self._settings.region, account_id=self._settings.account_id, now=time.time(), quotas=self._quotas
        )

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation.startswith(_READ_ONLY_PREFIXES):
            return domain.handle(operation, request, self._view, self._ctx()).response
        async with self._lock:
            ctx = self._ctx()
            outcome = domain.handle(operation, request, self._view, ctx)
            await self._writer.write(outcome.changes, outcome.jobs, ctx.now)
            return outcome.response

    async def advance(self) -> None:
        """Control's own lifecycle steps (CREATE PENDING -> ACTIVE for instant resources, deletions)."""
        async with self._lock:
            ctx = self._ctx()
            effects = domain.advance(self._view, ctx)
            if effects.changes or effects.jobs:
                await self._writer.write(effects.changes, effects.jobs, ctx.now)

    async def apply_status(self, update: dict[str, Any]) -> None:
        async with self._lock:
            ctx = self._ctx()
            try:
                effects = domain.apply_job_status(self._view, update, ctx)
            except Exception:  # a bad report must never stop control
                log.exception("cannot apply job status %s", update)
                return
            if effects.changes or effects.jobs:
                await self._writer.write(effects.changes, effects.jobs, ctx.now)


def _rpc(handlers: ControlHandlers, name: str, response_cls: type[Message]) -> Callable[..., Awaitable[Message]]:
    async def method(self: object, request: Message, context: grpc.aio.ServicerContext) -> Message:
        body = json_format.MessageToDict(request)
        result = await handlers.call(name, body)
        return json_format.ParseDict(to_proto_json(result), response_cls(), ignore_unknown_fields=True)

    method.__name__ = name
    return method


def build_servicer(handlers: ControlHandlers) -> control_pb2_grpc.PersonalizeControlServicer:
    """A servicer whose every method goes through ``ControlHandlers.call``."""
    service = control_pb2.DESCRIPTOR.services_by_name["PersonalizeControl"]
    methods: dict[str, Any] = {}
    for m in service.methods:
        response_cls = getattr(control_pb2, m.output_type.name)
        methods[m.name] = _rpc(handlers, m.name, response_cls)
    cls = type("PersonalizeControl", (control_pb2_grpc.PersonalizeControlServicer,), methods)
    return cls()  # type: ignore[no-any-return]
