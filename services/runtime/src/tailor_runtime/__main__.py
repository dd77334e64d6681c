"""``python -m tailor_runtime``: run the runtime until SIGTERM.

With ``TAILOR_RUNTIME_WORKERS=N`` (N > 1) it starts N-1 more server processes on the same gRPC port
(SO_REUSEPORT; the kernel spreads connections), each with its own metrics port (base + i), because one
Python process is bound by its per-request overhead. SIGTERM to the first process stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tailor_runtime.config import RuntimeSettings
from tailor_runtime.server import build
from tailor_shared.grpc_server import run


def main() -> None:
    settings = RuntimeSettings.from_env()
    children: list[subprocess.Popen[bytes]] = []
    if settings.workers > 1:
        os.environ["TAILOR_GRPC_REUSE_PORT"] = "true"
        base_metrics = settings.common.metrics_port
        for i in range(1, settings.workers):
            env = {
                **os.environ,
                "TAILOR_RUNTIME_WORKERS": "1",
                "TAILOR_RUNTIME_METRICS_PORT": str(base_metrics + i if base_metrics else 0),
            }
            children.append(subprocess.Popen([sys.executable, "-m", "tailor_runtime"], env=env))
        settings = RuntimeSettings.from_env()
    try:
        run(settings.common, lambda: build(settings))
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)


if __name__ == "__main__":
    main()
