"""Several server processes on one port (SO_REUSEPORT), for services bound by per-request Python work.

``TAILOR_<SERVICE>_WORKERS=N`` (N > 1): the first process starts N-1 copies of ``python -m tailor_<service>``
on the same port, each with its own metrics port (base + i); stopping the first stops them all.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def worker_processes(service: str, workers: int, metrics_port: int) -> Iterator[bool]:
    """Start the extra processes and stop them on exit. Yields whether it did: then the caller re-reads its
    settings, which now ask for a shared port (``TAILOR_GRPC_REUSE_PORT``)."""
    children: list[subprocess.Popen[bytes]] = []
    if workers > 1:
        os.environ["TAILOR_GRPC_REUSE_PORT"] = "true"
        upper = service.upper()
        for i in range(1, workers):
            env = {
                **os.environ,
                f"TAILOR_{upper}_WORKERS": "1",
                f"TAILOR_{upper}_METRICS_PORT": str(metrics_port + i if metrics_port else 0),
            }
            children.append(subprocess.Popen([sys.executable, "-m", f"tailor_{service}"], env=env))
    try:
        yield bool(children)
    finally:
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            child.wait(30)
