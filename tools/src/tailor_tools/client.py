"""A boto3-like Python client for Tailor's three gRPC APIs, speaking Personalize's JSON shapes.

    control = Client("127.0.0.1:50051", "control")
    dsg = control.call("CreateDatasetGroup", name="my-dsg")["datasetGroupArn"]

Requests and responses are the camelCase dicts a Personalize user knows (protobuf's JSON mapping of
the messages); errors are raised as the typed ``PersonalizeError`` subclasses (``ResourceNotFoundException``…).
Used by the CLI's demo, the tests and the benchmarks. Every call is signed (authentication is on by default,
ADR 0026): with the given credential, else :func:`tailor_tools.identity.default_credential` (the AWS variables or
the development identity). :func:`channel` and :func:`aio_channel` are the same for code that drives raw stubs.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tailor.control.v1 import control_pb2, control_pb2_grpc
from tailor.events.v1 import events_pb2, events_pb2_grpc
from tailor.runtime.v1 import runtime_pb2, runtime_pb2_grpc
from tailor_shared import grpc_client
from tailor_shared.auth import Credential
from tailor_shared.errors import from_rpc_error
from tailor_shared.tls import TlsSettings
from tailor_tools.identity import default_credential

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


def _region() -> str:
    return os.environ.get("TAILOR_REGION") or "us-east-1"


def channel(
    address: str,
    credential: Credential | None = None,
    options: grpc_client.Options = (),
    signed: bool = True,
    tls: TlsSettings | None = None,
) -> grpc.Channel:
    """A sync channel whose calls are signed with ``credential`` (default: ``default_credential()``);
    ``signed=False`` for an unauthenticated one (health checks, tests of refusals)."""
    cred = (credential or default_credential()) if signed else None
    return grpc_client.channel(address, cred, _region(), options, tls=tls)


def aio_channel(
    address: str,
    credential: Credential | None = None,
    options: grpc_client.Options = (),
    signed: bool = True,
    tls: TlsSettings | None = None,
) -> grpc.aio.Channel:
    """:func:`channel` for ``grpc.aio``."""
    cred = (credential or default_credential()) if signed else None
    return grpc_client.aio_channel(address, cred, _region(), options, tls=tls)


class Client:
    """One API ("control", "events" or "runtime") at one address; every call signed with ``credential``
    (default: ``default_credential()``; ``signed=False``: unsigned, which services refuse unless started with
    ``TAILOR_AUTH_REQUIRED=0``; ``clock``: the signing time, for tests of expired signatures). With ``tls`` naming
    a CA file the channel is TLS, verified against it (ADR 0027)."""

    def __init__(
        self,
        address: str,
        api: str,
        timeout: float = 30.0,
        credential: Credential | None = None,
        region: str | None = None,
        signed: bool = True,
        tls: TlsSettings | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        module, stub_cls, service = _APIS[api]
        self._module = module
        cred = (credential or default_credential()) if signed else None
        self._channel = grpc_client.channel(address, cred, region or _region(), tls=tls, clock=clock)
        self._stub = stub_cls(self._channel)
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
    health = grpc_client.channel(address, tls=tls)  # health checks stay open: unsigned
    try:
        reply = health_pb2_grpc.HealthStub(health).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=timeout
        )
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)
    except grpc.RpcError:
        return False
    finally:
        health.close()
