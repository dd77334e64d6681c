"""``python -m tailor_runtime``: run the runtime until SIGTERM.

With ``TAILOR_RUNTIME_WORKERS=N`` (N > 1) it starts N-1 more server processes on the same gRPC port
(SO_REUSEPORT; the kernel spreads connections), each with its own metrics port (base + i), because one
Python process is bound by its per-request overhead. SIGTERM to the first process stops them all.
"""

from __future__ import annotations

from tailor_runtime.config import RuntimeSettings
from tailor_runtime.server import build
from tailor_shared.grpc_server import run
from tailor_shared.processes import worker_processes


def main() -> None:
    settings = RuntimeSettings.from_env()
    with worker_processes("runtime", settings.workers, settings.common.metrics_port) as spawned:
        if spawned:
            settings = RuntimeSettings.from_env()
        run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
