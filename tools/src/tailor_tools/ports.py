"""Free TCP ports for processes a test or benchmark starts itself: one scheme for both."""

from __future__ import annotations

import random
import socket

#: Below the kernel's ephemeral range (Linux: 32768 and up), which outgoing connections draw from: a port chosen
#: there could be taken by a Kafka or Redis client in the second between the choice and the service's bind.
PORT_RANGE = range(20000, 32768)
#: Ports ``free_port`` has handed out in this process: a world starts several services before any of them binds,
#: so a port that was free a moment ago may already be promised to one of them.
_handed_out: set[int] = set()


def free_port() -> int:
    """A port free now, never handed out before in this process, outside the ephemeral range."""
    rng = random.Random()
    while True:
        port = rng.choice(PORT_RANGE)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
