"""``python -m tailor_control``: run the control plane until SIGTERM."""

from __future__ import annotations

from tailor_control.config import ControlSettings
from tailor_control.server import build
from tailor_shared.grpc_server import run


def main() -> None:
    settings = ControlSettings.from_env()
    run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
