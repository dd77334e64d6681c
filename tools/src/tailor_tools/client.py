"""A boto3-like Python client for Tailor's three gRPC APIs, speaking Personalize's JSON shapes.

    control = Client("127.0.0.1:50051", "control")
    dsg = control.call("CreateDatasetGroup", name="my-dsg")["datasetGroupArn"]

Requests and responses are the camelCase dicts a Personalize user knows (protobuf's JSON mapping of
the messages); errors are raised as the typed ``PersonalizeError`` subclasses (``ResourceNotFoundException``…).
Used by the CLI's demo, the tests and the benchmarks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_shared import tls as tls_channels
from tailor_shared.auth import Credential
from tailor_shared.errors import from_rpc_error
from tailor_shared.grpc_auth import SigningInterceptor
from tailor_shared.tls import TlsSettings

_APIS: dict[str, tuple[Any, Any, str]] = {
    "control": (control_pb2, control_pb2_grpc.PersonalizeControlStub, "PersonalizeControl"),
    "events": (events_pb2, events_pb2_grpc.PersonalizeEventsStub, "PersonalizeEvents"),
    "runtime": (runtime_pb2, runtime_pb2_grpc.PersonalizeRuntimeStub, "PersonalizeRuntime"),
}


def _proto_json(value: Any) -> Any:
    """Personalize's map-of-lists fields (metadataColumns, excludedDatasetColumns) -> map of StringList."""
    if isinstance(value, dict):
        return {
            k: (
                {kk: {"values": vv} for kk, vv in v.items()}
                if k in _LIST_MAPS and isinstance(v, dict)
                else _proto_json(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_proto_json(v) for v in value]
    return value


_LIST_MAPS = frozenset({"metadataColumns", "excludedDatasetColumns"})


def _personalize_json(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: (
                {kk: vv.get("values", []) for kk, vv in v.items()}
                if k in _LIST_MAPS and isinstance(v, dict)
                else _personalize_json(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_personalize_json(v) for v in value]
    return value


class Client:
    """One API ("control", "events" or "runtime") at one address. With a ``credential`` every call is signed
    (SigV4 as gRPC metadata, ``tailor_shared.grpc_auth``), as services started with TAILOR_AUTH_REQUIRED need. With
    ``tls`` naming a CA file the channel is TLS, verified against it (ADR 0027)."""

    def __init__(
        self,
        address: str,
        api: str,
        timeout: float = 30.0,
        credential: Credential | None = None,
        region: str = "us-east-1",
        tls: TlsSettings | None = None,
    ) -> None:
        module, stub_cls, service = _APIS[api]
        self._module = module
        self._channel = tls_channels.channel(address, tls or TlsSettings())
        channel = self._channel
        if credential is not None:
            channel = grpc.intercept_channel(channel, SigningInterceptor(credential, region))
        self._stub = stub_cls(channel)
        self._timeout = timeout
        self._methods = {m.name: m for m in module.DESCRIPTOR.services_by_name[service].methods}

    def call(self, operation: str, **request: Any) -> dict[str, Any]:
        method = self._methods.get(operation)
        if method is None:
            raise AttributeError(f"unknown operation {operation}")
        message: Message = json_format.ParseDict(_proto_json(request), getattr(self._module, method.input_type.name)())
        rpc: Callable[..., Message] = getattr(self._stub, operation)
        try:
            response = rpc(message, timeout=self._timeout)
        except grpc.RpcError as err:
            raise from_rpc_error(err) from None
        result: dict[str, Any] = _personalize_json(json_format.MessageToDict(response))
        return result

    def wait_for(
        self, operation: str, key: str, statuses: tuple[str, ...] = ("ACTIVE",), timeout: float = 60, **request: Any
    ) -> dict[str, Any]:
        """Poll a Describe call until ``response[key]["status"]`` is one of ``statuses`` (as SDK waiters do)."""
        deadline = time.monotonic() + timeout
        while True:
            resource = self.call(operation, **request)[key]
            if resource.get("status") in statuses:
                return dict(resource)
            if "FAILED" in str(resource.get("status")) and not any("FAILED" in s for s in statuses):
                raise RuntimeError(f"{key} failed: {resource.get('failureReason')}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{key} still {resource.get('status')} after {timeout}s")
            time.sleep(0.1)

    def close(self) -> None:
        self._channel.close()


def health_serving(address: str, service: str = "", timeout: float = 1.0, tls: TlsSettings | None = None) -> bool:
    """One gRPC health check: whether ``service`` ("" = the whole server) at ``address`` reports SERVING.
    Unreachable or not-yet-registered counts as not serving; callers poll it."""
    health_channel = tls_channels.channel(address, tls or TlsSettings())
    try:
        reply = health_pb2_grpc.HealthStub(health_channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
    finally:
        health_channel.close()
