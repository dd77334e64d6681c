"""``python -m tailor_batch``: run the batch worker until SIGTERM."""

from __future__ import annotations

from tailor_batch.config import BatchSettings
from tailor_batch.server import build
from tailor_shared.grpc_server import run


def main() -> None:
    settings = BatchSettings.from_env()
    run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
