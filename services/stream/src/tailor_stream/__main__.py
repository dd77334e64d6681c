"""``python -m tailor_stream [worker | rebuild [--dataset-group NAME] | snapshot [--dataset-group NAME]]``.

``worker`` (the default) runs the Faust worker until SIGTERM. ``rebuild`` wipes the stream's Redis state
and replays it from Kafka, then exits. ``snapshot`` prints the state as JSON (for debugging).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence

import faust

from tailor_shared.logs import configure_logging, logging_dict_config
from tailor_shared.redis_client import async_redis_from_url
from tailor_stream.app import create_app
from tailor_stream.config import StreamSettings


def _worker(settings: StreamSettings) -> None:
    level = settings.common.log_level
    app = create_app(settings)
    worker = faust.Worker(
        app,
        loglevel=level,
        logging_config=logging_dict_config("stream", level),
        redirect_stdouts=False,
        quiet=True,
    )
    # Faust's terminal spinner (kept when the level is WARNING or above) sets the root logger to DEBUG and spins
    # on every record: a service writes JSON lines, not a terminal animation.
    worker.spinner = None
    worker.execute_from_commandline()


def _group_tag(bootstrap: str, prefix: str, name: str) -> str:
    from tailor_shared import storage
    from tailor_stream.rebuild import live_group_tag

    with storage.records(bootstrap, prefix) as view:
        return live_group_tag(view, prefix, name)


async def _snapshot(settings: StreamSettings, dataset_group: str | None) -> None:
    from tailor_stream.processor import close_redis
    from tailor_stream.snapshot import read_snapshot

    prefix = settings.common.topic_prefix
    if dataset_group is not None:  # the live incarnation of the group of that name (ADR 0012)
        dataset_group = await asyncio.to_thread(_group_tag, settings.common.kafka_bootstrap, prefix, dataset_group)
    redis = async_redis_from_url(settings.common.redis_url)
    try:
        snap = await read_snapshot(redis, prefix, dataset_group)
    finally:
        await close_redis(redis)
    out = {key: [kind, sorted(v) if isinstance(v, frozenset) else v] for key, (kind, v) in snap.items()}
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tailor_stream", description=__doc__)
    parser.add_argument("command", nargs="?", default="worker", choices=["worker", "rebuild", "snapshot"])
    parser.add_argument("--dataset-group", default=None, help="only this dataset group (rebuild, snapshot)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    settings = StreamSettings.from_env()
    if args.command == "worker":
        _worker(settings)
    elif args.command == "rebuild":
        from tailor_stream.rebuild import rebuild

        configure_logging("stream", settings.common.log_level)
        report = asyncio.run(rebuild(settings, args.dataset_group))
        print(json.dumps(report.__dict__))
    else:
        asyncio.run(_snapshot(settings, args.dataset_group))


if __name__ == "__main__":
    main()
