"""The one gRPC server bootstrap: grpc.aio, error mapping, request metrics, health, reflection, SIGTERM.

Every gRPC service calls :func:`serve`. Errors raised as ``PersonalizeError`` leave as their gRPC status
with the Personalize exception name in trailing metadata; anything else is logged and becomes
``InternalFailure`` so a client never sees a Python traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import gc
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from tailor_shared.config import CommonSettings
from tailor_shared.errors import ERROR_TYPE_METADATA_KEY, InternalFailure, PersonalizeError
from tailor_shared.grpc_auth import CALLER, GrpcAuth
from tailor_shared.metrics import metric_name, serve_metrics
from tailor_shared.tls import server_credentials

log = logging.getLogger(__name__)

_REQUESTS: dict[str, Counter] = {}
_LATENCY: dict[str, Histogram] = {}


def request_metrics(service: str) -> tuple[Counter, Histogram]:
    """The request count and latency of one gRPC service (``tailor_<service>_grpc_*``), created once per
    process: the interceptor and the service's own ``metrics`` module get the same two objects."""
    if service not in _REQUESTS:
        _REQUESTS[service] = Counter(
            metric_name(service, "grpc_requests", "total"), "gRPC requests by method and code", ["method", "code"]
        )
        _LATENCY[service] = Histogram(
            metric_name(service, "grpc_request_duration", "seconds"),
            "gRPC request latency by method",
            ["method"],
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
    return _REQUESTS[service], _LATENCY[service]


Admit = Callable[[str, Any], Awaitable[None]]

#: Allocations between two young-generation collections (CPython's default is 700). A request allocates hundreds
#: of tracked objects (gRPC, asyncio, protobuf, ranking) that nearly all die by reference counting; at 700 a
#: collection, and every tenth one the middle generation, ran every request or two (ADR 0019 §7).
GC_GEN0_THRESHOLD = 20_000


def settle_heap() -> None:
    """Move every object alive now (start-up state, loaded models and catalogues) out of the cyclic garbage
    collector's reach, and make young collections rarer: a full collection would otherwise walk every model's
    item index (a pause of tens of milliseconds at 10,000 items, seconds at 1,000,000) in the middle of requests.
    Called once a service's server started (``serve``, not ``start_server``: tests start servers inside one
    process) and again by a service after it loads long-lived state (the runtime's models).
    Frozen objects are still freed by reference counting; only cyclic garbage among them would stay."""
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


_CALL_STARTED: contextvars.ContextVar[float | None] = contextvars.ContextVar("tailor_call_started", default=None)


def call_started() -> float | None:
    """When the gRPC call this task is handling started (``time.monotonic()``, before auth and quotas); None
    outside a call. Lets a handler bound the whole call, not each of its steps (ADR 0025: every API answers
    within 1 s while a dependency hangs)."""
    return _CALL_STARTED.get()


class ErrorAndMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Maps ``PersonalizeError`` to gRPC statuses and records request counts and latency; a service's ``admit``
    (request quotas, ``tailor_shared.quotas``) runs first, so a throttled call is counted like any other error.
    With ``auth`` (on unless ``TAILOR_AUTH_REQUIRED=0``), calls to the ``protected`` services are authenticated
    and authorised before that (``tailor_shared.grpc_auth``), and the handler runs with the principal in
    ``grpc_auth.CALLER``; health and reflection stay open."""

    def __init__(
        self,
        service: str,
        admits: Mapping[str, Admit] | None = None,
        auth: GrpcAuth | None = None,
        protected: frozenset[str] = frozenset(),
    ) -> None:
        self._requests, self._latency = request_metrics(service)
        self._admits = dict(admits or {})
        self._auth = auth
        self._protected = protected
        # Labelled children, bound once: ``labels()`` builds a key and takes a lock on every call.
        self._counted: dict[tuple[str, str], Any] = {}
        self._timed: dict[str, Any] = {}

    def _count(self, method: str, code: str) -> Any:
        child = self._counted.get((method, code))
        if child is None:
            child = self._counted[(method, code)] = self._requests.labels(method, code)
        return child

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        service_name, _, method = handler_call_details.method.lstrip("/").rpartition("/")
        count = self._count
        timed = self._timed.get(method)
        if timed is None:
            timed = self._timed[method] = self._latency.labels(method)
        observe = timed.observe
        admit = self._admits.get(service_name)
        auth = self._auth if service_name in self._protected else None
        deserialize = handler.request_deserializer
        if auth is not None and deserialize is not None:
            # The signature covers the request's bytes as sent: keep them beside the message.
            inner_deserialize = deserialize

            def deserialize(raw: bytes) -> Any:
                return _Signed(raw, inner_deserialize(raw))

        async def wrapper(request: Any, context: grpc.aio.ServicerContext) -> Any:
            start = time.perf_counter()
            _CALL_STARTED.set(time.monotonic())  # this call's own task: nothing else sees it
            code = "OK"
            caller = None
            try:
                if auth is not None:
                    raw = b""
                    if isinstance(request, _Signed):
                        raw, request = request.raw, request.message
                    principal = auth.check(
                        handler_call_details.method, context.invocation_metadata() or (), raw, request
                    )
                    caller = CALLER.set(principal)  # the handler acts in the principal's account (ADR 0028)
                if admit is not None:
                    await admit(method, request)
                return await inner(request, context)
            except PersonalizeError as err:
                code = err.code
                context.set_trailing_metadata(((ERROR_TYPE_METADATA_KEY, err.code),))
                await context.abort(err.grpc_status, err.message)
            except (asyncio.CancelledError, grpc.aio.AbortError):
                code = "Cancelled"
                raise
            except Exception:
                code = InternalFailure.code
                log.exception("unhandled error in %s", method)
                context.set_trailing_metadata(((ERROR_TYPE_METADATA_KEY, InternalFailure.code),))
                await context.abort(grpc.StatusCode.INTERNAL, "An internal error occurred; see the service log")
            finally:
                if caller is not None:
                    CALLER.reset(caller)
                count(method, code).inc()
                observe(time.perf_counter() - start)

        return grpc.unary_unary_rpc_method_handler(
            wrapper,
            request_deserializer=deserialize,
            response_serializer=handler.response_serializer,
        )


@dataclass(frozen=True)
class _Signed:
    raw: bytes
    message: Any


@dataclass
class GrpcService:
    """One servicer to mount: its generated ``add_..._to_server`` function and full service name."""

    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any
    full_name: str
    admit: Admit | None = None  # checked before each call (``tailor_shared.quotas.RequestQuotas.admit``)
    #: trackingId -> the ARN it belongs to, for authorising PutEvents/PutActionInteractions (``tailor_shared.iam``)
    tracker_of: Callable[[str], str | None] | None = None


@dataclass
class ServerHandle:
    """A started server: its bound port and a way to stop it gracefully (used by tests and ``serve``)."""

    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    services: Sequence[GrpcService]
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def stop(self, grace: float = 5.0) -> None:
        for svc in self.services:
            await self.health.set(svc.full_name, health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        await self.server.stop(grace)
        for hook in self.on_stop:
            await hook()


async def start_server(settings: CommonSettings, services: Sequence[GrpcService]) -> ServerHandle:
    auth = (
        GrpcAuth.from_settings(settings.grpc_auth, settings.region)
        if settings.grpc_auth.required and services  # a process without an API (trainer, batch) needs no keys
        else None
    )
    tracker_of = next((s.tracker_of for s in services if s.tracker_of is not None), None)
    if auth is not None and tracker_of is not None:
        auth = replace(auth, tracker_of=tracker_of)
    server = grpc.aio.server(
        interceptors=[
            ErrorAndMetricsInterceptor(
                settings.service,
                {s.full_name: s.admit for s in services if s.admit},
                auth,
                frozenset(s.full_name for s in services),
            )
        ],
        options=[
            ("grpc.so_reuseport", 1 if settings.reuse_port else 0),
            ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ],
    )
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for svc in services:
        svc.add_to_server(svc.servicer, server)
    names = [svc.full_name for svc in services]
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    credentials = server_credentials(settings.tls)  # TLS when a certificate is configured (ADR 0027)
    if credentials is None:
        port = server.add_insecure_port(settings.grpc_address)
    else:
        port = server.add_secure_port(settings.grpc_address, credentials)
    if port == 0:
        raise OSError(f"cannot bind gRPC port {settings.grpc_address}")
    await server.start()
    for name in names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    await health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    return ServerHandle(server, port, health_servicer, services)


async def serve(
    settings: CommonSettings,
    services: Sequence[GrpcService],
    on_stop: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Run until SIGTERM/SIGINT, then drain: health NOT_SERVING, stop accepting, finish calls, run hooks."""
    metrics_port = serve_metrics(settings.metrics_port, settings.grpc_host)
    handle = await start_server(settings, services)
    gc.collect()  # what start-up left as garbage goes now, not into the frozen part
    settle_heap()
    handle.on_stop.extend(on_stop)
    log.info(
        "serving",
        extra={
            "grpc_port": handle.port,
            "metrics_port": metrics_port,
            "services": [s.full_name for s in services],
            "tls": settings.tls.serves_tls,
        },
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("shutting down")
    await handle.stop()
    log.info("stopped")


def run(
    settings: CommonSettings,
    build: Callable[[], Awaitable[tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]]],
) -> None:
    """Process entry point shared by the gRPC services: JSON logs, build the servicers, serve until SIGTERM."""
    from tailor_shared.logs import configure_logging

    configure_logging(settings.service, settings.log_level)

    async def main() -> None:
        services, on_stop = await build()
        await serve(settings, services, on_stop)

    asyncio.run(main())
