"""Prometheus metric naming (``tailor_<service>_<thing>_<unit>``) and the /metrics HTTP endpoint."""

from __future__ import annotations

import re

from prometheus_client import start_http_server

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


def serve_metrics(port: int, host: str = "127.0.0.1") -> int:
    """Start the /metrics endpoint on a daemon thread; returns the bound port (0 picks a free one)."""
    server, _thread = start_http_server(port, addr=host)
    return int(server.server_port)
