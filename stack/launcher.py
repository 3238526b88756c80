"""Bring the local stack up, check it, report on it and take it down.

`up` reuses a healthy service it started earlier, starts the others side by side and waits for
all health checks; `down` stops only processes recorded in the stack's own pid files."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from stack.base import Service, StackError
from stack.services import SupervisorService, Worker, infrastructure
from stack.supervisor import Restarts, Supervisor, read_records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # healthy | unhealthy | restarting | crashed | stopped
    pid: int | None
    restarts: int
    detail: str  # what the supervisor last did about it
    rss_mib: float | None
    url: str | None
    description: str


class Stack:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.services: list[Service] = [
            *infrastructure(settings),
            Worker(settings=settings),
            SupervisorService(settings=settings),  # last: started after, stopped before the rest
        ]

    def supervisor(self) -> Supervisor:
        """The supervisor of every other service (`stack supervise` runs it)."""
        return Supervisor(
            [s for s in self.services if not isinstance(s, SupervisorService)],
            self.settings.stack_dir,
        )

    def select(
        self, names: Iterable[str] | None = None, with_worker: bool = False
    ) -> list[Service]:
        if names is None:
            return [s for s in self.services if with_worker or not isinstance(s, Worker)]
        wanted = set(names)
        unknown = wanted - {s.name for s in self.services}
        if unknown:
            raise StackError(
                ", ".join(sorted(unknown)),
                "no such service",
                "choose from: " + ", ".join(s.name for s in self.services),
            )
        return [s for s in self.services if s.name in wanted]

    def up(self, names: Iterable[str] | None = None, with_worker: bool = False) -> list[str]:
        """Start what is not running; returns the names of the services started by this call.

        The infrastructure comes up (and gets its databases and topics) before the worker,
        which needs all of it; the supervisor comes last, so that it never restarts a service
        that is still coming up."""
        selected = self.select(names, with_worker)
        phases: list[list[Service]] = [
            [s for s in selected if not isinstance(s, Worker | SupervisorService)],
            [s for s in selected if isinstance(s, Worker)],
            [s for s in selected if isinstance(s, SupervisorService)],
        ]
        started: list[str] = []
        try:
            for phase in phases:
                started += self._up(phase) if phase else []
        except BaseException:
            self.down(started)
            raise
        return started

    def _up(self, selected: list[Service]) -> list[str]:
        started: list[Service] = []
        try:
            for service in selected:
                service.install()
                with service.lock():  # not while the supervisor restarts it
                    if service.recorded_process() is not None:
                        log.info("%s: already running, reusing it", service.name)
                        continue
                    service.clear_crashed()
                    self._refuse_busy_ports(service)
                    service.prepare()
                    log.info("%s: starting (log: %s)", service.name, service.log_file)
                    service.spawn()
                started.append(service)
            self._wait_healthy(selected, started)
            for service in selected:
                service.after_healthy()
        except BaseException:
            for service in reversed(started):
                service.stop()
            raise
        return [s.name for s in started]

    @staticmethod
    def _refuse_busy_ports(service: Service) -> None:
        busy = service.busy_ports()
        if busy:
            raise service.error(
                "port "
                + ", ".join(f"{p.number} ({p.purpose})" for p in busy)
                + " is already in use by another process",
                "stop that process (`ss -ltnp` shows which), or move the service with "
                + ", ".join(sorted({p.setting for p in busy})),
                with_log=False,
            )

    def _wait_healthy(self, selected: list[Service], started: list[Service]) -> None:
        began = time.monotonic()
        deadline = began + self.settings.stack_health_timeout_s
        pending, report_at = list(selected), began + 10
        while pending:
            if time.monotonic() >= report_at:  # a person watching sees what it waits for
                report_at += 10
                log.info(
                    "waiting for %s to be healthy (%.0f s)",
                    ", ".join(s.name for s in pending),
                    time.monotonic() - began,
                )
            for service in list(pending):
                code = service.exit_code()
                if code is not None:
                    raise service.error(
                        f"exited with code {code} before becoming healthy",
                        "read the log lines below; `hybrid stack down` then `hybrid stack up` "
                        "retries from a clean process",
                    )
                if service.healthy():
                    log.info("%s: healthy", service.name)
                    pending.remove(service)
            if pending and time.monotonic() > deadline:
                service = pending[0]
                raise service.error(
                    f"not healthy after {self.settings.stack_health_timeout_s:g} s"
                    + ("" if service in started else " (a process started earlier is running)"),
                    "read the log; raise HYBRID_STACK_HEALTH_TIMEOUT_S on a slow machine, or "
                    "restart it with `hybrid stack down` then `hybrid stack up`",
                )
            if pending:
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic()) + 0.01))

    def down(self, names: Iterable[str] | None = None) -> list[str]:
        """Stop services this stack started (from its pid files), in reverse start order."""
        selected = self.select(names, with_worker=True)
        return [s.name for s in reversed(selected) if s.stop()]

    def purge(self) -> list[Path]:
        """Stop every service this stack started, then remove everything it created: the
        stack directory (data, logs, checkpoints, the lake, Ray's sessions) and what services
        keep outside it. The venv and the package caches are the bootstrap's, and stay."""
        self.down()
        still_running = [s.name for s in self.services if s.recorded_process() is not None]
        if still_running:
            raise StackError(
                ", ".join(still_running),
                "still running after `stack down`",
                "stop it (its pid is in `./hybrid stack status`), then purge again",
            )
        removed = []
        for path in [
            *(path for s in self.services for path in s.created_outside_stack_dir()),
            self.settings.stack_dir,
        ]:
            if path.exists():
                shutil.rmtree(path)
                removed.append(path)
        return removed

    def status(self) -> list[ServiceStatus]:
        records = read_records(self.settings.stack_dir)
        rows = []
        for service in self.services:
            process = service.recorded_process()
            record = records.get(service.name, Restarts())
            rows.append(
                ServiceStatus(
                    name=service.name,
                    state=_state(service, process is not None, record),
                    pid=process.pid if process else None,
                    restarts=record.restarts,
                    detail=record.detail,
                    rss_mib=_session_rss_mib(process.pid) if process else None,
                    url=service.url(),
                    description=service.description,
                )
            )
        return rows


def _state(service: Service, running: bool, record: Restarts) -> str:
    if not running:
        return "crashed" if service.crashed() else "stopped"
    if _safe_healthy(service):
        return "healthy"
    return "restarting" if record.state == "starting" else "unhealthy"


def _safe_healthy(service: Service) -> bool:
    try:
        return service.healthy()
    except Exception:  # a status report must not fail on one odd answer
        return False


def _session_rss_mib(session_id: int) -> float:
    """Resident memory of every process in the service's session (it runs in its own)."""
    total_pages = 0
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session_id:  # field 6 of stat: session id
            total_pages += int(fields[21])  # field 24 of stat: rss in pages
    return total_pages * 4096 / 2**20
