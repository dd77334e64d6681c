"""``python -m tailor_ingest``: run the ingest service until SIGTERM."""

from __future__ import annotations

from tailor_shared.grpc_server import run
from tailor_ingest.config import IngestSettings
from tailor_ingest.server import build


def main() -> None:
    settings = IngestSettings.from_env()
    run(settings.common, lambda: build(settings))


if __name__ == "__main__":
    main()
