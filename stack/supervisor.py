"""Bring back a service of the local stack that died without `stack down`.

`stack down` removes a service's pid file once its process has stopped, under the service's
lock; a pid file whose process is gone therefore means a crash. The supervisor restarts such a
service after a backoff that doubles with each crash in a row (a service that ran for a while is
forgiven its earlier crashes), gives up on one that keeps crashing, logs every step and records
it in a file that `stack status` shows."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, TypeAdapter

from stack.base import Service

log = logging.getLogger(__name__)

READY = "supervising"  # its first log line, which its health check looks for

SupervisedState = Literal["running", "waiting", "starting", "gave-up"]


class Restarts(BaseModel):
    """What the supervisor did for one service (kept across supervisor restarts)."""

    restarts: int = 0
    crashes_in_a_row: int = 0
    state: SupervisedState = "running"
    last_crash: datetime | None = None
    last_restart: datetime | None = None
    detail: str = ""


RECORDS = TypeAdapter(dict[str, Restarts])


def records_file(stack_dir: Path) -> Path:
    return stack_dir / "run" / "restarts.json"


def read_records(stack_dir: Path) -> dict[str, Restarts]:
    with contextlib.suppress(OSError, ValueError):
        return RECORDS.validate_json(records_file(stack_dir).read_bytes())
    return {}


@dataclass(frozen=True)
class Backoff:
    first_s: float = 1.0
    max_s: float = 60.0
    give_up_after: int = 6  # crashes in a row
    stable_s: float = 120.0  # running this long forgives the crashes before
    health_timeout_s: float = 180.0

    def delay(self, crashes_in_a_row: int) -> float:
        return min(self.max_s, self.first_s * 2 ** max(0, crashes_in_a_row - 1))


@dataclass
class Supervisor:
    services: Sequence[Service]
    stack_dir: Path
    backoff: Backoff = field(default_factory=Backoff)
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        self.records = read_records(self.stack_dir)
        self._due: dict[str, float] = {}  # service -> when its restart is due (monotonic)
        self._since: dict[str, float] = {}  # service -> when it was (re)started (monotonic)

    def run_until(self, stop: threading.Event) -> None:
        log.info("%s %s", READY, ", ".join(s.name for s in self.services))
        while not stop.wait(self.poll_s):
            self.check_all()

    def check_all(self) -> None:
        for service in self.services:
            try:
                self.check(service)
            except Exception as error:  # one service's failed restart must not stop the rest
                record = self.record(service)
                record.detail = f"restart failed: {error}"
                log.exception("%s: restart failed", service.name)
        self.save()

    def record(self, service: Service) -> Restarts:
        return self.records.setdefault(service.name, Restarts())

    def check(self, service: Service) -> None:
        record, now = self.record(service), time.monotonic()
        if not service.crashed():
            self._check_running(service, record, now)
            return
        if record.state == "gave-up":
            return
        due = self._due.get(service.name)
        if due is None:
            self._crash_seen(service, record, now)
        elif now >= due:
            self._restart(service, record)

    def _check_running(self, service: Service, record: Restarts, now: float) -> None:
        self._due.pop(service.name, None)
        if service.recorded_process() is None:  # stopped by `stack down`, or never started
            record.state, record.detail = "running", ""
            return
        since = self._since.setdefault(service.name, now)
        if record.state in ("waiting", "gave-up"):  # someone else started it (`stack up`)
            record.state, record.detail = "running", ""
        if record.state == "starting":
            if service.healthy():
                service.after_healthy()
                record.state, record.detail = "running", ""
                log.warning("%s: healthy again after restart %d", service.name, record.restarts)
            elif now - since > self.backoff.health_timeout_s:
                record.detail = f"not healthy {now - since:.0f} s after its restart"
        elif record.crashes_in_a_row and now - since > self.backoff.stable_s:
            record.crashes_in_a_row = 0

    def _crash_seen(self, service: Service, record: Restarts, now: float) -> None:
        code = service.exit_code()
        how = f"exited with code {code}" if code is not None else "its process is gone"
        record.crashes_in_a_row += 1
        record.last_crash = datetime.now(UTC)
        if record.crashes_in_a_row > self.backoff.give_up_after:
            record.state = "gave-up"
            record.detail = (
                f"{how}; gave up after {record.crashes_in_a_row - 1} restarts in a row "
                f"(`hybrid stack up` starts it again; its log: {service.log_file})"
            )
            log.error("%s: %s", service.name, record.detail)
            return
        delay = self.backoff.delay(record.crashes_in_a_row)
        self._due[service.name] = now + delay
        record.state = "waiting"
        record.detail = f"{how}; restarting {delay:g} s after it crashed"
        log.warning(
            "%s: %s; restarting in %g s (crash %d in a row)",
            service.name,
            how,
            delay,
            record.crashes_in_a_row,
        )

    def _restart(self, service: Service, record: Restarts) -> None:
        with service.lock():
            if not service.crashed():  # `stack down` or `stack up` acted meanwhile
                return
            service.install()
            service.clear_crashed()
            service.prepare()
            process = service.spawn()
        del self._due[service.name]
        self._since[service.name] = time.monotonic()
        record.restarts += 1
        record.state = "starting"
        record.last_restart = datetime.now(UTC)
        record.detail = f"restarted as pid {process.pid}, waiting until it is healthy"
        log.warning(
            "%s: restarted as pid %d (restart %d)", service.name, process.pid, record.restarts
        )

    def save(self) -> None:
        path = records_file(self.stack_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_bytes(RECORDS.dump_json(self.records, indent=2))
        scratch.replace(path)
