"""What every service of the local stack has in common: a pid file, a log file, ports, a health
check, and the error the launcher raises when a service cannot be set up or started."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import httpx

from core.errors import ActionableError
from core.settings import Settings


class StackError(ActionableError):
    """A service could not be set up or started: the message names the service, what to do and,
    when it has one, its log file with the last lines."""

    def __init__(self, service: str, problem: str, remedy: str, log_file: Path | None = None):
        if log_file is not None:
            remedy += f"\n  log: {log_file}"
            tail = _tail(log_file)
            if tail:
                remedy += "\n  last log lines:\n" + "\n".join(f"    {line}" for line in tail)
        super().__init__(problem, remedy, subject=service)
        self.service = service


def _tail(path: Path, lines: int = 12) -> list[str]:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace").splitlines()[-lines:]
    return []


@dataclass(frozen=True)
class Port:
    number: int
    purpose: str
    setting: str  # the environment variable that moves it


@dataclass
class RunningProcess:
    """A process the stack started, recorded as pid plus kernel start time so that a reused pid
    is never mistaken for ours."""

    pid: int
    start_ticks: int

    @staticmethod
    def start_ticks_of(pid: int) -> int | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return None
        # the command name (field 2) may contain spaces; fields after it are fixed
        return int(stat.rsplit(")", 1)[1].split()[19])

    def alive(self) -> bool:
        return self.start_ticks_of(self.pid) == self.start_ticks

    def is_zombie(self) -> bool:
        with contextlib.suppress(OSError):
            return Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
        return False


@dataclass(kw_only=True)
class Service:
    """One background process of the local stack.

    Subclasses say how to prepare state, which command to run, how to check health and what to
    do once healthy. The launcher owns the process lifecycle."""

    name: str
    settings: Settings
    description: str = ""
    run_as: str | None = None  # unprivileged account to run as when we are root
    ports: list[Port] = field(default_factory=list)

    # --- overridden by services -------------------------------------------------------------
    def url(self) -> str | None:
        return None

    def install(self) -> None:
        """Make the service's programs available (once per machine)."""

    def prepare(self) -> None:
        """Create the service's state on first start (once per stack directory)."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return {}

    def healthy(self) -> bool:
        raise NotImplementedError

    def after_healthy(self) -> None:
        """Idempotent set-up that needs the running service (topics, schemas, databases)."""

    # --- shared ------------------------------------------------------------------------------
    @property
    def state_dir(self) -> Path:
        return self.settings.stack_dir / self.name

    @property
    def working_dir(self) -> Path:
        return self.state_dir

    def created_outside_stack_dir(self) -> list[Path]:
        """What the service keeps outside the stack directory (that `stack down --purge`
        removes along with it)."""
        return []

    @property
    def log_file(self) -> Path:
        return self.settings.stack_dir / "logs" / f"{self.name}.log"

    @property
    def pid_file(self) -> Path:
        return self.settings.stack_dir / "run" / f"{self.name}.pid"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Held while the service is started or stopped: `up`, `down` and the supervisor
        (stack/supervisor.py) never act on the same service at once."""
        lock_file = self.pid_file.with_suffix(".lock")
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with lock_file.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def crashed(self) -> bool:
        """Its pid file is there but its process is gone: it died without `stack down`, which
        removes the pid file once the process has stopped."""
        self.exit_code()  # reap it if we are its parent
        return self.pid_file.exists() and self.recorded_process() is None

    def clear_crashed(self) -> None:
        """Before a start: a crashed leader's children must not hold its ports."""
        with contextlib.suppress(OSError, ValueError):
            kill_stragglers(int(self.pid_file.read_text().split()[0]))
        self.pid_file.unlink(missing_ok=True)

    def latest_log(self) -> str:
        """The log since the service's last start."""
        with contextlib.suppress(OSError):
            return self.log_file.read_text(errors="replace").rsplit("\n===== ", 1)[-1]
        return ""

    def error(self, problem: str, remedy: str, with_log: bool = True) -> StackError:
        return StackError(self.name, problem, remedy, self.log_file if with_log else None)

    def recorded_process(self) -> RunningProcess | None:
        try:
            pid, ticks = self.pid_file.read_text().split()
        except (OSError, ValueError):
            return None
        process = RunningProcess(int(pid), int(ticks))
        return process if process.alive() and not process.is_zombie() else None

    def process_environment(self) -> dict[str, str]:
        return {**os.environ, **self.environment()}

    def spawn(self) -> RunningProcess:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        self.pid_file.parent.mkdir(parents=True, exist_ok=True)
        env = self.process_environment()
        with self.log_file.open("ab") as log:
            log.write(
                f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}: "
                f"{' '.join(self.command())}\n".encode()
            )
            log.flush()
            popen = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.working_dir,
                start_new_session=True,  # its own process group: `down` stops the whole tree
                user=self.run_as if _is_root() else None,
            )
        ticks = RunningProcess.start_ticks_of(popen.pid)
        if ticks is None:
            raise self.error(f"exited immediately (code {popen.wait()})", "read the log below")
        process = RunningProcess(popen.pid, ticks)
        self.pid_file.write_text(f"{process.pid} {process.start_ticks}\n")
        self._popen = popen
        return process

    def serve(self) -> NoReturn:
        """Become the service: install, prepare, then exec its command in place of this process.

        The same program, state and environment that `spawn` starts in the background, for a
        container whose main process is the service. There is no pid file or log file: the
        container runtime supervises the process and collects its output."""
        self.install()
        self.prepare()
        command = self.command()
        environment = self.process_environment()
        os.chdir(self.working_dir)
        if self.run_as and _is_root():
            _become(self.run_as)
        os.execvpe(command[0], command, environment)

    def exit_code(self) -> int | None:
        popen: subprocess.Popen[bytes] | None = getattr(self, "_popen", None)
        return popen.poll() if popen is not None else None

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop the recorded process group; True if something was stopped."""
        if not self.pid_file.exists():
            return False
        with self.lock():
            return self._stop(timeout_s)

    def _stop(self, timeout_s: float) -> bool:
        process = self.recorded_process()
        if process is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and process.alive() and not process.is_zombie():
            time.sleep(0.2)
            self.exit_code()  # reap it if we are its parent
        if process.alive() and not process.is_zombie():
            _signal_group(process.pid, signal.SIGKILL)
        _signal_group(process.pid, signal.SIGKILL, only_stragglers=True)
        self.exit_code()
        self.pid_file.unlink(missing_ok=True)
        return True

    def busy_ports(self) -> list[Port]:
        return [port for port in self.ports if port_in_use(port.number)]


@dataclass(kw_only=True)
class CliService(Service):
    """A `hybrid` subcommand run as a service: healthy once its log since the start says
    `ready`."""

    cli_args: tuple[str, ...] = ()
    ready: str = ""

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli", *self.cli_args]

    def healthy(self) -> bool:
        return self.ready in self.latest_log()


def kill_stragglers(pid: int) -> None:
    """Kill what is left of the process group of a dead service leader (Ray's or Flink's
    children would hold its ports), unless the pid now belongs to some other process."""
    if not Path(f"/proc/{pid}").exists():
        _signal_group(pid, signal.SIGKILL, only_stragglers=True)


def _signal_group(pid: int, sig: signal.Signals, only_stragglers: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    if not only_stragglers:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _is_root() -> bool:
    return os.geteuid() == 0


def _become(account: str) -> None:
    """Drop root for `account`: groups first, since after setuid they can no longer change."""
    entry = pwd.getpwnam(account)
    os.initgroups(account, entry.pw_gid)
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def http_ok(url: str) -> httpx.Response | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


def tcp_open(port: int, host: str = "127.0.0.1", timeout_s: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False
