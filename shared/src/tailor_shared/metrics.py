"""Prometheus metric naming (``tailor_<service>_<thing>_<unit>``) and the /metrics HTTP endpoint."""

from __future__ import annotations

import re
import socket
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

_PART = re.compile(r"^[a-z][a-z0-9_]*$")
UNITS = frozenset({"total", "seconds", "bytes", "ratio", "count", "info", "records", "events", "value"})


def metric_name(service: str, thing: str, unit: str) -> str:
    """Build a metric name; rejects names that would break the convention instead of silently fixing them."""
    for part in (service, thing):
        if not _PART.match(part):
            raise ValueError(f"metric name part {part!r} must match {_PART.pattern}")
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} must be one of {sorted(UNITS)}")
    return f"tailor_{service}_{thing}_{unit}"


#: How often the /metrics server's thread wakes when no scrape comes. ``prometheus_client.start_http_server``
#: serves with socketserver's 0.5 s poll: two wake-ups a second in every idle process, which only
#: ``shutdown()`` needs, and this daemon thread is never shut down (ADR 0030 §15).
METRICS_IDLE_WAKE_S = 60.0


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        """Scrapes are not logged (as with ``start_http_server``)."""


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Start the /metrics endpoint on a daemon thread; returns the bound port (0 picks a free one)."""
    family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]

    class _Server(ThreadingWSGIServer):
        address_family = family

    server: ThreadingWSGIServer = make_server(host, port, make_wsgi_app(), _Server, handler_class=_QuietHandler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": METRICS_IDLE_WAKE_S}, name="metrics", daemon=True
    )
    thread.start()
    return int(server.server_port)
