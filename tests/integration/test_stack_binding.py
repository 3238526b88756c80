"""The local stack listens on loopback only: every listening socket of every process the stack
started (each service is a session of its own: its children share it), Ray's GCS, raylet,
agents and workers included, is on 127.0.0.1 or ::1. (Ray, left to itself, replaces
`--node-ip-address 127.0.0.1` with the host's address and listened there and on every
interface: see stack/services/ray.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.launcher import Stack
from tests.support.sockets import listening, on_loopback, session_of

pytestmark = pytest.mark.integration


def test_every_port_of_the_stack_is_on_loopback(stack: Stack) -> None:
    sessions = {
        process.pid: service.name
        for service in stack.services
        if (process := service.recorded_process()) is not None
    }
    assert {"postgres", "temporal", "kafka", "ray"} <= set(sessions.values())
    exposed = []
    for address, pid in listening():
        service = sessions.get(session_of(pid) or -1)
        if service is None or on_loopback(address):
            continue  # not the stack's, or safe
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        exposed.append(f"{service}: {address} ({command[:120]})")
    assert exposed == []
