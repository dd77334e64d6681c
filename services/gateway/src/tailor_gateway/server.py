"""The HTTP shell: a bare ASGI app on uvicorn (httptools parser, uvloop), in front of :class:`Gateway`.

Why this stack: uvicorn with httptools and uvloop is the fastest well-kept Python HTTP/1.1 server we measured
for small JSON requests (docs/benchmarks.md, "gateway"), and a bare ASGI callable adds nothing per request
(no router, middleware or request objects: three fixed POST paths and one header decide the operation).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from types import FrameType
from typing import Any

import uvicorn

from tailor_gateway.adapters import Backends, load_models
from tailor_gateway.config import GatewaySettings
from tailor_gateway.domain.operations import build_router
from tailor_gateway.handlers import Authenticator, ForwardAuth, Gateway
from tailor_gateway.static import ConsoleFiles
from tailor_shared.auth import Principal, SigV4Verifier, load_credentials
from tailor_shared.grpc_auth import sign_call
from tailor_shared.metrics import serve_metrics
from tailor_shared.tls import CertificateFiles

log = logging.getLogger(__name__)

#: Larger request bodies are refused (413) before any parsing. Personalize's largest requests (PutItems: 10
#: items of up to 32,000-character properties; GetPersonalizedRanking: 500 item ids) are far below it.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: uvicorn ticks every 0.1 s: look at the certificate files every 5 s.
TLS_RELOAD_TICKS = 50

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class App:
    """ASGI: lifespan opens the gRPC channels inside the serving loop; each HTTP request goes to the Gateway."""

    def __init__(
        self, settings: GatewaySettings, authenticate: Authenticator, forward_auth: ForwardAuth | None = None
    ) -> None:
        self._settings = settings
        self._authenticate = authenticate
        self._forward_auth = forward_auth
        self._router = build_router(load_models())
        self._gateway: Gateway | None = None
        self._backends: Backends | None = None
        self._console = ConsoleFiles.load(settings.console_dir) if settings.console_dir else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._backends = Backends.open(self._settings.backend_addresses, self._settings.common.tls)
                self._gateway = Gateway(
                    self._router,
                    self._backends,
                    self._authenticate,
                    self._settings.call_timeout_s,
                    self._forward_auth,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._backends is not None:
                    await self._backends.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self._gateway is not None, "lifespan startup did not run"
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if self._console is not None and ConsoleFiles.handles(scope["method"], scope["path"]):
            page = self._console.reply(scope["path"], headers.get("accept-encoding", ""))
            await self._respond(send, page.status, page.headers, page.body)
            return
        body = b""
        more = True
        while more and len(body) <= MAX_BODY_BYTES:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if len(body) > MAX_BODY_BYTES:
            response = self._gateway.too_large(headers, MAX_BODY_BYTES)
        else:
            response = await self._gateway.handle(
                scope["method"],
                scope["path"],
                scope.get("raw_path") or scope["path"].encode(),
                scope["query_string"],
                headers,
                body,
            )
        await self._respond(send, response.status, response.headers, response.body)

    @staticmethod
    async def _respond(send: Send, status: int, headers: tuple[tuple[str, str], ...], body: bytes) -> None:
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode(), v.encode()) for k, v in (*headers, ("content-length", str(len(body))))],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGTERM after its graceful shutdown, so the process would die of the signal; a Tailor
    service drains and exits 0, as the gRPC services do."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()

    certificates: CertificateFiles | None = None  # HTTPS: follow the certificate files (ADR 0027)

    async def on_tick(self, counter: int) -> bool:
        if self.certificates is not None and self.config.ssl is not None and counter % TLS_RELOAD_TICKS == 0:
            self.certificates.reload(self.config.ssl)
        return await super().on_tick(counter)


def bind(settings: GatewaySettings) -> socket.socket:
    """The listening socket (SO_REUSEPORT when several processes share the port)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.common.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((settings.common.grpc_host, settings.common.grpc_port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: GatewaySettings) -> None:
    """Run until SIGTERM/SIGINT (uvicorn's handlers: stop accepting, finish requests, close channels).

    Every request is SigV4-verified against the configured credentials (``tailor_shared.auth``; no credentials
    configured: ``CredentialsError`` here, before the port opens). With TAILOR_AUTH_REQUIRED the forwarded gRPC
    call is signed with the caller's key, so the backend authorises the caller by its policies (ADR 0026)."""
    verifier = SigV4Verifier(load_credentials(settings.auth), settings.common.region)
    authenticate: Authenticator = verifier.verify
    forward_auth: ForwardAuth | None = None
    if settings.common.grpc_auth.required:
        region = settings.common.region

        def forward_auth(principal: object, method: str, request: bytes) -> list[tuple[str, str]]:
            """Sign the forwarded call with the caller's own key: the backend authorises the same principal."""
            assert isinstance(principal, Principal)
            credential = verifier.store.get(principal.access_key_id)
            assert credential is not None  # verify found it a moment ago; the store is read-only
            return sign_call(credential, region, method, request)

    metrics_port = serve_metrics(settings.common.metrics_port, settings.common.grpc_host)
    sock = bind(settings)
    config = uvicorn.Config(
        App(settings, authenticate, forward_auth),
        loop="uvloop",
        http="httptools",
        lifespan="on",
        access_log=False,
        log_config=None,
        server_header=False,
        date_header=False,
        timeout_graceful_shutdown=10,
        **settings.common.tls.uvicorn_options(),  # HTTPS when a certificate is configured (ADR 0027)
    )
    log.info(
        "serving",
        extra={
            "http_port": sock.getsockname()[1],
            "metrics_port": metrics_port,
            "backends": settings.backend_addresses,
            "tls": settings.common.tls.serves_tls,
        },
    )
    server = _Server(config)
    if settings.common.tls.serves_tls:
        server.certificates = CertificateFiles(settings.common.tls)
    server.run(sockets=[sock])
    log.info("stopped")
