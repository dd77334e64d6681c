"""One AWS request in, one AWS response out: route, authenticate, translate, forward over gRPC, translate back.

Framework-free (``server.py`` adapts it to ASGI): the inputs are the method, path, query string, lower-cased
headers and body bytes; the output an :class:`HttpResponse`. Every failure becomes AWS's error response for
the service the request addressed (``domain.errors``); nothing here builds an error body by hand.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc
from botocore.model import ServiceModel

from tailor_gateway import metrics
from tailor_gateway.adapters import Backends
from tailor_gateway.domain.errors import error_response
from tailor_gateway.domain.operations import APIS, Forwarded, Router
from tailor_shared.errors import (
    AuthenticationError,
    PersonalizeError,
    ServiceUnavailableException,
    from_rpc_error,
)

log = logging.getLogger(__name__)

CONTROL_SERVICE = "personalize"
TARGET_HEADER = "x-amz-target"


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes


class Authenticator(Protocol):
    def __call__(self, method: str, path: bytes, query: bytes, headers: Mapping[str, str], body: bytes) -> object:
        """Raise an ``AuthenticationError`` unless a known credential signed the request (SigV4); return who did.
        ``path`` and ``query`` as received (still percent-encoded)."""


#: (the principal ``authenticate`` returned, gRPC method path, serialized request) -> the metadata that signs the
#: forwarded call as that principal (``tailor_shared.grpc_auth``), for backends with TAILOR_AUTH_REQUIRED.
ForwardAuth = Callable[[object, str, bytes], Sequence[tuple[str, str]]]

_HEALTH = HttpResponse(200, (("content-type", "application/json"),), b'{"status":"SERVING"}')


class Gateway:
    def __init__(
        self,
        router: Router,
        backends: Backends,
        authenticate: Authenticator,
        timeout_s: float,
        forward_auth: ForwardAuth | None = None,
    ) -> None:
        self._router = router
        self._authenticate = authenticate
        self._forward_auth = forward_auth
        self._timeout = timeout_s
        forwarded: list[Forwarded] = [*router.by_target.values(), *router.by_path.values(), *router.console.values()]
        self._calls = {id(op): backends.method(op) for op in forwarded}
        self._control_model = router.models[CONTROL_SERVICE]
        self._models = {api: router.models[service] for api, (service, _module, _grpc) in APIS.items()}

    async def handle(
        self, method: str, path: str, raw_path: bytes, query: bytes, headers: Mapping[str, str], body: bytes
    ) -> HttpResponse:
        """``path`` decoded (routing); ``raw_path`` and ``query`` as received (the signature covers those)."""
        request_id = str(uuid.uuid4())
        if method == "GET" and path in ("/health", "/ping"):
            return _HEALTH
        target = headers.get(TARGET_HEADER)
        if target is not None:
            op = self._router.for_target(target)
            if op is None:
                name = target.rpartition(".")[2]
                known = f"{CONTROL_SERVICE}.{name}" in self._router.unserved
                message = f"{name} is not implemented by Tailor yet" if known else f"Unknown operation {target}"
                return self._error(self._control_model, "UnknownOperationException", message, request_id)
        else:
            op = self._router.for_path(path) if method == "POST" else None
            if op is None:
                model = self._control_model if path == "/" else self._models["runtime"]
                return self._error(
                    model, "UnknownOperationException", f"No operation at {method} {path}", request_id, 404
                )
        started = time.perf_counter()
        model = self._models[op.api]
        try:
            principal = self._authenticate(method, raw_path, query, headers, body)
        except AuthenticationError as err:
            metrics.REQUESTS.labels(op.api, op.name, err.code).inc()
            return self._error(model, err.code, err.message, request_id, err.http_status)
        code = "OK"
        try:
            response = await self._forward(op, body, principal)
            out = HttpResponse(200, (("content-type", op.content_type), ("x-amzn-requestid", request_id)), response)
        except PersonalizeError as err:
            code = err.code
            out = self._error(model, err.code, err.message, request_id)
        except _BadJson as err:
            code = "SerializationException"
            out = self._error(model, code, str(err), request_id)
        except Exception:  # a defect here must still reach the client as AWS's error, not a bare 500 page
            log.exception("gateway failure", extra={"operation": op.name, "request_id": request_id})
            code = "InternalFailure"
            out = self._error(model, code, "An internal error occurred.", request_id)
        metrics.REQUESTS.labels(op.api, op.name, code).inc()
        metrics.LATENCY.labels(op.api, op.name).observe(time.perf_counter() - started)
        return out

    def too_large(self, headers: Mapping[str, str], limit: int) -> HttpResponse:
        """The answer to a request body over ``limit`` bytes (HTTP 413), in the addressed API's error protocol."""
        model = self._control_model if TARGET_HEADER in headers else self._models["runtime"]
        message = f"Request body is larger than {limit} bytes."
        return self._error(model, "RequestEntityTooLargeException", message, str(uuid.uuid4()), 413)

    async def _forward(self, op: Forwarded, body: bytes, principal: object) -> bytes:
        try:
            payload = json.loads(body) if body else {}
        except ValueError as err:
            raise _BadJson(f"Request body is not JSON: {err}") from None
        if not isinstance(payload, dict):
            raise _BadJson("Request body must be a JSON object")
        request = op.request(payload)
        metadata = None
        if self._forward_auth is not None:  # the backend authorises the caller itself (ADR 0026)
            metadata = self._forward_auth(principal, op.grpc_method, request.SerializeToString())
        try:
            reply = await self._calls[id(op)](request, timeout=self._timeout, metadata=metadata)
        except grpc.aio.AioRpcError as err:
            raise _typed(err) from None
        if not op.has_output:
            return b"{}" if op.protocol == "json" else b""
        return json.dumps(op.response(reply), separators=(",", ":")).encode()

    @staticmethod
    def _error(
        model: ServiceModel, code: str, message: str, request_id: str, status: int | None = None
    ) -> HttpResponse:
        err = error_response(model, code, message, status)
        return HttpResponse(err.status, (*err.headers, ("x-amzn-requestid", request_id)), err.body)


class _BadJson(Exception):
    pass


def _typed(err: grpc.aio.AioRpcError) -> PersonalizeError:
    """The service's typed error; a backend that is down (no Personalize error type) is ServiceUnavailable."""
    typed = from_rpc_error(err)
    if typed.code == "InternalFailure" and err.code() in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
    ):
        log.warning("backend unavailable", extra={"status": err.code().name, "details": err.details()})
        return ServiceUnavailableException(f"Backend unavailable: {err.details()}")
    return typed
