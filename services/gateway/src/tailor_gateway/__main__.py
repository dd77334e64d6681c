"""``python -m tailor_gateway``: serve Personalize's AWS protocols over HTTP until SIGTERM.

With ``TAILOR_GATEWAY_WORKERS=N`` (N > 1) it starts N-1 more processes on the same port (SO_REUSEPORT), each
with its own metrics port (base + i), as the runtime does: one Python process is bound by its per-request work.
"""

from __future__ import annotations

from tailor_gateway.config import GatewaySettings
from tailor_gateway.server import serve
from tailor_shared.logs import configure_logging
from tailor_shared.processes import worker_processes


def main() -> None:
    settings = GatewaySettings.from_env()
    configure_logging("gateway", settings.common.log_level)
    with worker_processes("gateway", settings.workers, settings.common.metrics_port) as spawned:
        if spawned:
            settings = GatewaySettings.from_env()
        serve(settings)


if __name__ == "__main__":
    main()
