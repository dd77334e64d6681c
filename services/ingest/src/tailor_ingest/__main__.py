"""``python -m tailor_ingest``: the ingest service (gRPC + job worker) until SIGTERM.

``python -m tailor_ingest import-worker`` runs only the import/export job worker.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from tailor_ingest.config import IngestSettings
from tailor_ingest.server import build, run_worker_only
from tailor_shared.grpc_server import GrpcService, run
from tailor_shared.logs import configure_logging


def _worker_main(settings: IngestSettings) -> None:
    configure_logging("ingest-worker", settings.common.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run_worker_only(settings, stop)
        logging.getLogger(__name__).info("stopped")

    asyncio.run(main())


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    settings = IngestSettings.from_env()
    if args[:1] == ["import-worker"]:
        _worker_main(settings)
        return
    if args:
        raise SystemExit(f"usage: python -m tailor_ingest [import-worker]; unknown arguments {args}")
    run(settings.common, lambda: _built(settings))


async def _built(settings: IngestSettings) -> tuple[Sequence[GrpcService], Sequence[Callable[[], Awaitable[None]]]]:
    """Build, then move everything start-up allocated (protobuf descriptors, gRPC, the resource view) out of
    the garbage collector's reach: its full passes would otherwise rescan them all and stall requests."""
    built = await build(settings)
    gc.collect()
    gc.freeze()
    return built


if __name__ == "__main__":
    main()
