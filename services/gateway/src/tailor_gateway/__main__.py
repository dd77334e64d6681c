"""``python -m tailor_gateway``: serve Personalize's AWS protocols over HTTP until SIGTERM.

With ``TAILOR_GATEWAY_WORKERS=N`` (N > 1) it starts N-1 more processes on the same port (SO_REUSEPORT), each
with its own metrics port (base + i), as the runtime does: one Python process is bound by its per-request work.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tailor_gateway.config import GatewaySettings
from tailor_gateway.server import serve
from tailor_shared.logs import configure_logging


def main() -> None:
    settings = GatewaySettings.from_env()
    configure_logging("gateway", settings.common.log_level)
    children: list[subprocess.Popen[bytes]] = []
    if settings.workers > 1:
        os.environ["TAILOR_GRPC_REUSE_PORT"] = "true"
        base_metrics = settings.common.metrics_port
        for i in range(1, settings.workers):
            env = {
                **os.environ,
                "TAILOR_GATEWAY_WORKERS": "1",
                "TAILOR_GATEWAY_METRICS_PORT": str(base_metrics + i if base_metrics else 0),
            }
            children.append(subprocess.Popen([sys.executable, "-m", "tailor_gateway"], env=env))
        settings = GatewaySettings.from_env()
    try:
        serve(settings)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)


if __name__ == "__main__":
    main()
