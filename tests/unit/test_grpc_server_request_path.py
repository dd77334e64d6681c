"""The shared gRPC server's per-request bookkeeping (ADR 0019 §7): metric children bound once still count every
call under its own method and code, and ``settle_heap`` takes what is alive out of the collector's walks."""

from __future__ import annotations

import gc

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from tailor_shared.config import CommonSettings
from tailor_shared.errors import ResourceNotFoundException
from tailor_shared.grpc_auth import GrpcAuthSettings
from tailor_shared.grpc_client import aio_channel
from tailor_shared.grpc_server import GC_GEN0_THRESHOLD, GrpcService, settle_heap, start_server


def _count(method: str, code: str) -> float:
    value = REGISTRY.get_sample_value("tailor_unittestbind_grpc_requests_total", {"method": method, "code": code})
    return value or 0.0


def _observed(method: str) -> float:
    value = REGISTRY.get_sample_value("tailor_unittestbind_grpc_request_duration_seconds_count", {"method": method})
    return value or 0.0


async def test_bound_metric_children_count_each_method_and_code() -> None:
    class Probe(health_pb2_grpc.HealthServicer):  # type: ignore[misc]
        async def Check(self, request: health_pb2.HealthCheckRequest, context: object) -> object:
            if request.service == "missing":
                raise ResourceNotFoundException("no such thing")
            return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)

    settings = CommonSettings(service="unittestbind", grpc_port=0, grpc_auth=GrpcAuthSettings(required=False))
    handle = await start_server(
        settings, [GrpcService(health_pb2_grpc.add_HealthServicer_to_server, Probe(), "probe.Bind")]
    )
    before_ok, before_missing = _count("Check", "OK"), _count("Check", "ResourceNotFoundException")
    before_seen = _observed("Check")
    try:
        async with aio_channel(f"127.0.0.1:{handle.port}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            for _ in range(3):
                await stub.Check(health_pb2.HealthCheckRequest())
            for _ in range(2):
                with pytest.raises(grpc.aio.AioRpcError):
                    await stub.Check(health_pb2.HealthCheckRequest(service="missing"))
    finally:
        await handle.stop(0)
    assert _count("Check", "OK") - before_ok == 3
    assert _count("Check", "ResourceNotFoundException") - before_missing == 2
    assert _observed("Check") - before_seen == 5


def test_settle_heap_freezes_what_is_alive_and_makes_young_collections_rarer() -> None:
    threshold = gc.get_threshold()
    alive = [{"kept": n} for n in range(1000)]
    try:
        settle_heap()
        assert gc.get_freeze_count() >= len(alive)
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
