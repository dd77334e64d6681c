"""``python -m tailor_stream``: run the stream worker (Faust) until SIGTERM."""

from __future__ import annotations

import faust

from tailor_shared.logs import logging_dict_config
from tailor_stream.app import create_app
from tailor_stream.config import StreamSettings


def main() -> None:
    settings = StreamSettings.from_env()
    level = settings.common.log_level
    app = create_app(settings)
    worker = faust.Worker(
        app,
        loglevel=level,
        logging_config=logging_dict_config("stream", level),
        redirect_stdouts=False,
        quiet=True,
    )
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
