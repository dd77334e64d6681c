"""``python -m tailor_trainer``: run the trainer service until SIGTERM."""

from __future__ import annotations

from tailor_shared.grpc_server import run
from tailor_trainer.config import TrainerSettings
from tailor_trainer.server import build


def main() -> None:
    settings = TrainerSettings.from_env()
    run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
