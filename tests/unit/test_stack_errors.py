"""Bad set-up gets a clear error that names the service and what to do."""

import asyncio
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.db.connections import DatabaseUnavailable
from core.errors import MissingPrerequisite
from core.settings import Settings
from stack.base import StackError, port_in_use
from stack.launcher import Stack
from tools.bench.saga import run_benchmark
from worker.run import UnknownTaskQueue, run_worker


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Settings]:
    """Settings for a throw-away stack: its own directory and ports, never the real stack's."""
    settings = Settings(
        stack_dir=tmp_path / "stack",
        temporal_address=f"localhost:{free_port()}",
        temporal_ui_port=free_port(),
        postgres_dsn=f"postgresql://hybrid:hybrid@localhost:{free_port()}/hybrid",
        kafka_bootstrap_servers=f"localhost:{free_port()}",
        kafka_controller_port=free_port(),
    )
    yield settings
    assert Stack(settings).down() == [], "a failed `up` left a process running"


@pytest.fixture
def occupied_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_port_already_taken(scratch: Settings, occupied_port: int) -> None:
    settings = scratch.model_copy(
        update={"postgres_dsn": f"postgresql://hybrid:hybrid@localhost:{occupied_port}/hybrid"}
    )
    with pytest.raises(StackError) as error:
        Stack(settings).up(["postgres"])
    message = str(error.value)
    assert message.startswith("[postgres]")
    assert f"port {occupied_port} (PostgreSQL) is already in use" in message
    assert "HYBRID_POSTGRES_DSN" in message
    assert not (settings.stack_dir / "run" / "postgres.pid").exists()


def test_java_home_without_java(scratch: Settings, tmp_path: Path) -> None:
    settings = scratch.model_copy(update={"java_home": tmp_path / "no-java-here"})
    with pytest.raises(MissingPrerequisite) as error:
        Stack(settings).up(["kafka"])
    message = str(error.value)
    assert message.startswith("[kafka]")
    assert "has no bin/java" in message
    assert "Java 17" in message


def test_java_missing_from_path(
    scratch: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(MissingPrerequisite) as error:
        Stack(scratch).up(["flink-jobmanager"])
    message = str(error.value)
    assert message.startswith("[flink-jobmanager]")
    assert "Java is not installed" in message
    assert "apt-get install openjdk-17-jre-headless" in message


def test_java_too_old(scratch: Settings, tmp_path: Path) -> None:
    fake_home = tmp_path / "java8"
    (fake_home / "bin").mkdir(parents=True)
    java = fake_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'openjdk version \"1.8.0_392\"' >&2\n")
    java.chmod(java.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(MissingPrerequisite, match=r"Java 8 found .* Java 17 or newer is required"):
        Stack(scratch.model_copy(update={"java_home": fake_home})).up(["kafka"])


def test_service_failing_its_health_check(scratch: Settings) -> None:
    settings = scratch.model_copy(update={"stack_health_timeout_s": 0.05})
    with pytest.raises(StackError) as error:
        Stack(settings).up(["temporal"])
    message = str(error.value)
    assert message.startswith("[temporal] not healthy after 0.05 s")
    assert f"log: {settings.stack_dir / 'logs' / 'temporal.log'}" in message
    assert "HYBRID_STACK_HEALTH_TIMEOUT_S" in message
    # what this `up` started is stopped again: nothing left behind
    assert not (settings.stack_dir / "run" / "temporal.pid").exists()
    assert not port_in_use(settings.temporal_port)


def test_service_exiting_during_start_up(
    scratch: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the worker, pointed at a Temporal server that is not there, exits and says so
    monkeypatch.setenv("HYBRID_TEMPORAL_ADDRESS", scratch.temporal_address)
    monkeypatch.setenv("HYBRID_METRICS_BIND_ADDRESS", "")  # the stack's worker may hold it
    with pytest.raises(StackError) as error:
        Stack(scratch).up(["worker"])
    message = str(error.value)
    assert message.startswith("[worker] exited with code 1")
    assert f"Temporal is not reachable at {scratch.temporal_address}" in message
    assert "./hybrid stack up" in message


def test_unknown_service_name(scratch: Settings) -> None:
    with pytest.raises(StackError, match="choose from: postgres, temporal"):
        Stack(scratch).up(["mysql"])


def test_down_and_status_on_an_empty_stack(scratch: Settings) -> None:
    stack = Stack(scratch)
    assert stack.down() == []
    assert {row.state for row in stack.status()} == {"stopped"}


def test_a_worker_for_an_unknown_task_queue_says_which_queues_exist(scratch: Settings) -> None:
    message = r"no such task queue: nope\n.*configured ones: orders"
    with pytest.raises(UnknownTaskQueue, match=message):
        asyncio.run(run_worker(scratch, task_queues=["orders", "nope"]))


def test_the_saga_benchmark_without_postgres_says_how_to_start_it(scratch: Settings) -> None:
    message = r"(?s)PostgreSQL is not reachable .*hybrid stack up"
    with pytest.raises(DatabaseUnavailable, match=message):
        asyncio.run(run_benchmark(scratch, orders=1, concurrency=1))


def test_purge_removes_what_the_stack_created_and_nothing_else(
    scratch: Settings, tmp_path: Path
) -> None:
    stack = Stack(scratch)
    (scratch.stack_dir / "logs").mkdir(parents=True)
    (scratch.stack_dir / "logs" / "kafka.log").write_text("a log")
    outside = [path for s in stack.services for path in s.created_outside_stack_dir()]
    for path in outside:  # PostgreSQL's files, under its account's home when we are root
        (path / "data").mkdir(parents=True)
    neighbour = tmp_path / "not-the-stack"
    neighbour.mkdir()

    assert set(stack.purge()) == {scratch.stack_dir, *outside}
    assert not scratch.stack_dir.exists()
    assert not any(path.exists() for path in outside)
    assert neighbour.exists()
    assert stack.purge() == []  # nothing left to remove
