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
from tailor_shared.errors import ServiceUnavailableException
from tailor_shared.grpc_auth import caller_account
from tailor_shared.resource_view import ResourceView

log = logging.getLogger(__name__)

SERVICE_NAME = "tailor.control.v1.PersonalizeControl"
_READ_ONLY_PREFIXES = ("Describe", "List", "Get")
#: How often a mutating call waiting for Kafka looks whether the broker is known down.
WRITE_POLL_S = 0.05


class ControlHandlers:
    def __init__(
        self,
        settings: CommonSettings,
        view: ResourceView,
        writer: ResourceWriter,
        quotas: domain.Quotas,
        write_timeout_s: float = 3.0,
    ) -> None:
        self._settings = settings
        self._write_timeout_s = write_timeout_s
        self._quotas = quotas
        self._view = view
        self._writer = writer
        self._lock = asyncio.Lock()

    def _ctx(self) -> domain.Context:
        # The caller's account (authentication on) or the deployment's: ARNs it creates, what its lists show.
        account = caller_account(self._settings.account_id)
        return domain.Context(region=self._settings.region, account_id=account, now=time.time(), quotas=self._quotas)

    async def call(self, operation: str, request: dict[str, Any]) -> dict[str, Any]:
        if operation.startswith(_READ_ONLY_PREFIXES):
            return domain.handle(operation, request, self._view, self._ctx()).response
        # Bounded (ADR 0025): refused at once while Kafka is known down; otherwise answered within the write
        # timeout. A write that outlives it finishes in the background under the lock (its resource records and
        # jobs go out together or not at all), and the caller is told to check before retrying.
        self._writer.check_available()
        try:
            async with asyncio.timeout(self._write_timeout_s):
                await self._lock.acquire()
        except TimeoutError:
            raise ServiceUnavailableException(
                f"control could not start the change within {self._write_timeout_s:g} s (earlier changes are still "
                "waiting for Kafka); nothing was changed: retry later"
            ) from None
        try:
            self._writer.check_available()  # Kafka may have gone while this call waited for the lock
            ctx = self._ctx()
            outcome = domain.handle(operation, request, self._view, ctx)
            write = asyncio.create_task(self._writer.write(outcome.changes, outcome.jobs, ctx.now))
        except BaseException:
            self._lock.release()
            raise
        write.add_done_callback(self._written)
        deadline = time.monotonic() + self._write_timeout_s
        while not write.done():
            # Stop waiting as soon as Kafka is known down (a probe confirmed it), or at the deadline.
            if self._writer.broker_down or time.monotonic() >= deadline:
                raise ServiceUnavailableException(
                    "Kafka did not acknowledge the change "
                    f"{'(it is unreachable)' if self._writer.broker_down else f'within {self._write_timeout_s:g} s'}"
                    "; it may still be applied: describe the resource before retrying"
                )
            await asyncio.wait({write}, timeout=WRITE_POLL_S)
        write.result()
        return outcome.response

    def _written(self, write: asyncio.Task[None]) -> None:
        """A request's write is over (in time or not): free the lock; a late failure is only logged."""
        self._lock.release()
        if not write.cancelled() and write.exception() is not None:
            log.warning("a control write failed: %r", write.exception())

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
