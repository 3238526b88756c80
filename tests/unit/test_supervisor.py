"""The supervisor brings back a service that died, and only one that died: real processes,
killed with SIGKILL, in a throw-away stack directory."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.settings import Settings
from stack.base import Service
from stack.launcher import Stack
from stack.supervisor import Backoff, Restarts, Supervisor, read_records

QUICK = Backoff(first_s=0.2, max_s=0.8, give_up_after=3, stable_s=60, health_timeout_s=10)


@dataclass(kw_only=True)
class Sleeper(Service):
    """A service whose process says it is ready, then sleeps (or exits at once, `crashing`)."""

    crashing: bool = False

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        code = "import sys; sys.exit(3)" if self.crashing else "import time; time.sleep(600)"
        return [sys.executable, "-c", f"print('ready', flush=True); {code}"]

    def healthy(self) -> bool:
        return "ready" in self.latest_log()


def wait_for(condition: Callable[[], bool], timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the condition did not hold in time"
        time.sleep(0.1)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Path:
    return tmp_path / "stack"


@pytest.fixture
def supervised(stack_dir: Path) -> Iterator[Callable[[Service], Supervisor]]:
    """Runs a supervisor of the given service in a thread; stops it and the service after."""
    stop = threading.Event()
    running: list[tuple[threading.Thread, Service]] = []

    def supervise(service: Service) -> Supervisor:
        supervisor = Supervisor([service], stack_dir, QUICK, poll_s=0.1)
        thread = threading.Thread(target=supervisor.run_until, args=(stop,))
        thread.start()
        running.append((thread, service))
        return supervisor

    yield supervise
    stop.set()
    for thread, service in running:
        thread.join()
        service.stop()


def sleeper(stack_dir: Path, crashing: bool = False) -> Sleeper:
    service = Sleeper(name="sleeper", settings=Settings(stack_dir=stack_dir), crashing=crashing)
    service.prepare()
    return service


def test_a_killed_service_is_restarted_and_the_restart_recorded(
    stack_dir: Path, supervised: Callable[[Service], Supervisor]
) -> None:
    service = sleeper(stack_dir)
    first = service.spawn()
    supervised(service)
    os.kill(first.pid, signal.SIGKILL)

    wait_for(lambda: (p := service.recorded_process()) is not None and p.pid != first.pid)
    wait_for(lambda: read_records(stack_dir)["sleeper"].state == "running")
    record = read_records(stack_dir)["sleeper"]
    assert record.restarts == 1
    assert record.last_crash is not None
    assert record.last_restart is not None
    assert service.healthy()


def test_a_service_stopped_by_stack_down_stays_stopped(
    stack_dir: Path, supervised: Callable[[Service], Supervisor]
) -> None:
    service = sleeper(stack_dir)
    service.spawn()
    supervised(service)
    assert service.stop()
    time.sleep(1.0)  # several supervisor rounds, each longer than the first backoff
    assert service.recorded_process() is None
    assert read_records(stack_dir).get("sleeper", Restarts()).restarts == 0


def test_a_service_that_keeps_crashing_is_given_up_with_the_reason(
    stack_dir: Path, supervised: Callable[[Service], Supervisor]
) -> None:
    service = sleeper(stack_dir, crashing=True)
    service.spawn()
    supervised(service)

    wait_for(lambda: read_records(stack_dir).get("sleeper") is not None)
    wait_for(lambda: read_records(stack_dir)["sleeper"].state == "gave-up")
    record = read_records(stack_dir)["sleeper"]
    assert record.restarts == QUICK.give_up_after
    assert "exited with code 3" in record.detail
    assert "gave up after 3 restarts" in record.detail
    assert "`hybrid stack up` starts it again" in record.detail


def test_backoff_doubles_up_to_its_ceiling() -> None:
    assert [QUICK.delay(n) for n in range(1, 6)] == [0.2, 0.4, 0.8, 0.8, 0.8]


def test_status_says_crashed_and_counts_restarts(stack_dir: Path) -> None:
    """What `stack status` shows: a crashed service before the supervisor acts."""
    stack = Stack(Settings(stack_dir=stack_dir))
    worker = next(s for s in stack.services if s.name == "worker")
    worker.pid_file.parent.mkdir(parents=True)
    worker.pid_file.write_text("999999999 1\n")  # a process that cannot exist
    row = next(r for r in stack.status() if r.name == "worker")
    assert row.state == "crashed"
    assert row.pid is None
