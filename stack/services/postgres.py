"""PostgreSQL: Debian's server with a data directory of the stack's own, run as the `postgres`
account when we are root; the project's database and migrations once it answers."""

from __future__ import annotations

import hashlib
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from core.db.connections import connect
from core.db.migrate import apply_migrations
from core.toolchain import postgres_bin_dir, unprivileged_account
from stack.base import Port, Service

HOME_PREFIX = "hybrid-stack-"
OWNER_FILE = "stack_dir"  # in a home outside the stack directory: whose it is


@dataclass(kw_only=True)
class Postgres(Service):
    name: str = "postgres"
    description: str = "PostgreSQL (orders, stock, payments, alerts, model registry)"

    def __post_init__(self) -> None:
        self.ports = [Port(self.settings.postgres_port, "PostgreSQL", "HYBRID_POSTGRES_DSN")]

    def url(self) -> str:
        dsn = urlsplit(self.settings.postgres_dsn)
        return f"postgresql://{dsn.username}@{dsn.hostname}:{dsn.port}{dsn.path}"

    @property
    def home(self) -> Path:
        """Where the server's files live. As root the server runs as `postgres`, which may not be
        able to traverse the checkout (CI clones into a 0700 temporary directory), so its files
        go under that account's home, named after this stack directory."""
        if not self.run_as:
            return self.state_dir
        stack_id = hashlib.sha256(str(self.settings.stack_dir).encode()).hexdigest()[:10]
        return Path(pwd.getpwnam(self.run_as).pw_dir) / f"{HOME_PREFIX}{stack_id}"

    def created_outside_stack_dir(self) -> list[Path]:
        self.run_as = unprivileged_account(self.name, "postgres")
        return [self.home] if self.run_as else []

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def data_link(self) -> Path:
        """The stack directory's link to a data directory kept outside it."""
        return self.state_dir / "data"

    @property
    def working_dir(self) -> Path:
        return self.home

    def install(self) -> None:
        self.bin_dir = postgres_bin_dir(self.name)
        self.run_as = unprivileged_account(self.name, "postgres")

    def remove_orphaned_home(self) -> bool:
        """Remove a home outside the stack directory that the stack directory does not link
        to: a removed stack directory's (or an earlier clone's at the same path), whose
        database describes other Kafka topics, other lake files and other workflows."""
        if self.run_as and self.home.exists() and not self.data_link.is_symlink():
            shutil.rmtree(self.home)
            return True
        return False

    def remove_homes_of_removed_stacks(self) -> list[Path]:
        """Remove the other stack directories' homes beside ours whose stack directory is gone
        (each CI clone is a new temporary directory, and its home would stay behind)."""
        removed = []
        for home in self.home.parent.glob(f"{HOME_PREFIX}*"):
            owner = home / OWNER_FILE
            if home != self.home and owner.is_file() and not Path(owner.read_text()).exists():
                shutil.rmtree(home)
                removed.append(home)
        return removed

    def prepare(self) -> None:
        self.remove_orphaned_home()
        if self.run_as:
            self.remove_homes_of_removed_stacks()
        if (self.data_dir / "PG_VERSION").exists():
            return
        dsn = urlsplit(self.settings.postgres_dsn)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.home, self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        (self.home / OWNER_FILE).write_text(str(self.settings.stack_dir))
        password_file = self.home / "initdb.pw"
        password_file.write_text(dsn.password or "")
        if self.run_as:
            for path in (self.home, self.data_dir, self.socket_dir, password_file):
                shutil.chown(path, self.run_as, self.run_as)
            self.data_link.unlink(missing_ok=True)
            self.data_link.symlink_to(self.data_dir)
        self.data_dir.chmod(0o700)
        done = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.data_dir),
                f"--username={dsn.username}",
                f"--pwfile={password_file}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            capture_output=True,
            text=True,
            user=self.run_as,
        )
        password_file.unlink()
        if done.returncode != 0:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            raise self.error(
                f"initdb failed: {done.stderr.strip()[-600:]}",
                "fix the cause, then run `hybrid stack up` again",
                with_log=False,
            )

    @property
    def socket_dir(self) -> Path:
        return self.home / "run"

    def command(self) -> list[str]:
        return [
            str(self.bin_dir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.settings.postgres_port),
            "-k",
            str(self.socket_dir),
            "-c",
            "listen_addresses=localhost",
            "-c",
            "max_connections=200",
            "-c",
            "shared_buffers=128MB",
            "-c",
            "fsync=on",
        ]

    def healthy(self) -> bool:
        admin_dsn = self.settings.postgres_dsn.rsplit("/", 1)[0] + "/postgres"
        try:
            with psycopg.connect(admin_dsn, connect_timeout=2) as conn:
                conn.execute("select 1")
        except psycopg.Error:
            return False
        return True

    def after_healthy(self) -> None:
        database = urlsplit(self.settings.postgres_dsn).path.lstrip("/")
        admin_dsn = self.settings.postgres_dsn.rsplit("/", 1)[0] + "/postgres"
        with connect(admin_dsn, autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{database}"')
        apply_migrations(self.settings.postgres_dsn)
