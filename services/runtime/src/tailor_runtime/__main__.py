"""``python -m tailor_runtime``: run the runtime service until SIGTERM."""

from __future__ import annotations

from tailor_runtime.config import RuntimeSettings
from tailor_runtime.server import build
from tailor_shared.grpc_server import run


def main() -> None:
    settings = RuntimeSettings.from_env()
    run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
