"""``tailor_tools.ports.free_port``: a world launches several services before any binds, so the ports handed
out must differ from each other and stay out of the range outgoing connections draw from."""

from __future__ import annotations

import socket

from tailor_tools.ports import PORT_RANGE, free_port


def test_ports_are_never_handed_out_twice_and_stay_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p in PORT_RANGE and p < 32768 for p in ports)


def test_a_port_in_use_is_not_handed_out() -> None:
    held = []
    try:
        for port in list(PORT_RANGE)[:50]:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                s.close()
                continue
            s.listen()
            held.append(s)
        taken = {s.getsockname()[1] for s in held}
        assert not taken & {free_port() for _ in range(300)}
    finally:
        for s in held:
            s.close()
