"""The local stack listens on loopback only: every listening socket of every process the stack
started (each service is a session of its own: its children share it) is on 127.0.0.1 or ::1.

Measured exception, Ray 2.60: its GCS, raylets, dashboard agent, runtime-env agent, metrics
exporters, client server and workers listen on every interface (or the host's address) whatever
`--node-ip-address` says (the GCS adds a 0.0.0.0 listener in its C++ server; later Ray releases
bind them to the node address). They are listed here by program, so that anything else that
opens a port to the network fails this test; the README says what that exposes."""

from __future__ import annotations

from pathlib import Path

import pytest

from stack.launcher import Stack
from tests.support.sockets import listening, on_loopback, session_of

pytestmark = pytest.mark.integration
RAY_COMPONENTS = (
    "gcs_server",
    "raylet",
    "autoscaler/_private/monitor.py",
    "dashboard/dashboard.py",
    "ray.util.client.server",
    "default_worker.py",
    # the process titles Ray gives its agents and its workers (ray::DashboardAgent,
    # ray::RuntimeEnvAgent, ray::IDLE, ray::<actor>): each worker's gRPC server too
    "ray::",
)


def test_every_port_of_the_stack_is_on_loopback(stack: Stack) -> None:
    sessions = {
        process.pid: service.name
        for service in stack.services
        if (process := service.recorded_process()) is not None
    }
    assert {"postgres", "temporal", "kafka", "ray"} <= set(sessions.values())
    exposed, ray_exposed = [], set()
    for address, pid in listening():
        service = sessions.get(session_of(pid) or -1)
        if service is None:
            continue  # not the stack's
        if on_loopback(address):
            continue
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        component = next((c for c in RAY_COMPONENTS if c in command), None)
        if service == "ray" and component is not None:
            ray_exposed.add(component)
            continue
        exposed.append(f"{service}: {address} ({command[:120]})")
    assert exposed == []
    # the Ray exception is what was measured, not more: a component that stopped listening
    # on every interface can leave the list
    assert ray_exposed <= set(RAY_COMPONENTS)
