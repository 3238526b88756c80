"""The services of the local stack: the same programs the compose file runs, as local processes."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import yaml
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from core.db.migrate import apply_migrations
from core.settings import Settings
from core.toolchain import (
    java_home,
    maven_jars,
    postgres_bin_dir,
    unprivileged_account,
    venv_tool,
)
from domain.orders.search_attributes import ALL as SEARCH_ATTRIBUTES
from stack.base import Port, Service, tcp_open


def _http_ok(url: str) -> httpx.Response | None:
    try:
        response = httpx.get(url, timeout=2.0)
    except httpx.HTTPError:
        return None
    return response if response.status_code == 200 else None


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
        return Path(pwd.getpwnam(self.run_as).pw_dir) / f"hybrid-stack-{stack_id}"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def working_dir(self) -> Path:
        return self.home

    def install(self) -> None:
        self.bin_dir = postgres_bin_dir(self.name)
        self.run_as = unprivileged_account(self.name, "postgres")

    def prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        dsn = urlsplit(self.settings.postgres_dsn)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for path in (self.home, self.data_dir, self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
        password_file = self.home / "initdb.pw"
        password_file.write_text(dsn.password or "")
        if self.run_as:
            for path in (self.home, self.data_dir, self.socket_dir, password_file):
                shutil.chown(path, self.run_as, self.run_as)
            (self.state_dir / "data").unlink(missing_ok=True)
            (self.state_dir / "data").symlink_to(self.data_dir)
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
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            exists = conn.execute(
                "select 1 from pg_database where datname = %s", (database,)
            ).fetchone()
            if not exists:
                conn.execute(f'create database "{database}"')
        apply_migrations(self.settings.postgres_dsn)


def search_attribute_types() -> dict[str, str]:
    """The custom search attributes by name, with their types as the `temporal` CLI spells them
    (`Keyword`, `KeywordList`, `Datetime` ...)."""
    types = {}
    for key in SEARCH_ATTRIBUTES:
        kind = key.indexed_value_type.name.removeprefix("INDEXED_VALUE_TYPE_")
        types[key.name] = kind.title().replace("_", "")
    return types


@dataclass(kw_only=True)
class Temporal(Service):
    name: str = "temporal"
    description: str = "Temporal dev server (SQLite, WAL) and Web UI"

    def __post_init__(self) -> None:
        port = self.settings.temporal_port
        self.ports = [
            Port(port, "Temporal frontend gRPC", "HYBRID_TEMPORAL_ADDRESS"),
            Port(self.settings.temporal_ui_port, "Temporal Web UI", "HYBRID_TEMPORAL_UI_PORT"),
            Port(port + 10, "Temporal HTTP API", "HYBRID_TEMPORAL_ADDRESS"),
            Port(port + 11, "Temporal metrics", "HYBRID_TEMPORAL_ADDRESS"),
        ]

    def url(self) -> str:
        return self.settings.temporal_ui_url

    @property
    def cli(self) -> Path:
        return venv_tool("temporal")

    def command(self) -> list[str]:
        port = self.settings.temporal_port
        command = [
            str(self.cli),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(self.settings.temporal_ui_port),
            "--http-port",
            str(port + 10),
            "--metrics-port",
            str(port + 11),
            "--db-filename",
            str(self.state_dir / "temporal.db"),
            "--sqlite-pragma",
            "journal_mode=wal",
            "--sqlite-pragma",
            "synchronous=normal",
            "--namespace",
            self.settings.temporal_namespace,
            "--ui-disable-news-fetch",
            "--log-level",
            "warn",
        ]
        for name, kind in search_attribute_types().items():
            command += ["--search-attribute", f"{name}={kind}"]
        return command

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def healthy(self) -> bool:
        if not tcp_open(self.settings.temporal_port):
            return False
        done = subprocess.run(
            [
                str(self.cli),
                "operator",
                "search-attribute",
                "list",
                "--address",
                self.settings.temporal_address,
                "--namespace",
                self.settings.temporal_namespace,
                "--output",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return done.returncode == 0 and all(key.name in done.stdout for key in SEARCH_ATTRIBUTES)


# A single broker that is also the controller: every internal topic has one replica, and only the
# project creates topics (with their partition counts). The compose file's broker sets the same.
SINGLE_NODE_BROKER_SETTINGS = {
    "num.partitions": "1",
    "auto.create.topics.enable": "false",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "share.coordinator.state.topic.replication.factor": "1",
    "share.coordinator.state.topic.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
}


@dataclass(kw_only=True)
class Kafka(Service):
    name: str = "kafka"
    description: str = "Apache Kafka broker (KRaft, single node)"
    needs_java: bool = True

    def __post_init__(self) -> None:
        self.ports = [
            Port(self.settings.kafka_port, "Kafka broker", "HYBRID_KAFKA_BOOTSTRAP_SERVERS"),
            Port(
                self.settings.kafka_controller_port,
                "Kafka controller",
                "HYBRID_KAFKA_CONTROLLER_PORT",
            ),
        ]

    def url(self) -> str:
        return f"kafka://{self.settings.kafka_bootstrap_servers}"

    def install(self) -> None:
        self.java_home = java_home(self.settings, self.name)
        self.jars = maven_jars(self.settings, "kafka-broker")

    @property
    def config_file(self) -> Path:
        return self.state_dir / "server.properties"

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        broker, controller = self.settings.kafka_port, self.settings.kafka_controller_port
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@localhost:{controller}",
                    f"listeners=PLAINTEXT://localhost:{broker},CONTROLLER://localhost:{controller}",
                    f"advertised.listeners=PLAINTEXT://localhost:{broker}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                    f"log.dirs={self.state_dir / 'data'}",
                    *(f"{key}={value}" for key, value in SINGLE_NODE_BROKER_SETTINGS.items()),
                    "",
                ]
            )
        )
        (self.state_dir / "log4j2.properties").write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.stdout.ref=STDOUT\n"
            "appender.stdout.type=Console\nappender.stdout.name=STDOUT\n"
            "appender.stdout.layout.type=PatternLayout\n"
            "appender.stdout.layout.pattern=[%d] %p %m (%c)%n\n"
            "logger.kafka.name=kafka\nlogger.kafka.level=WARN\n"
            "logger.apache.name=org.apache.kafka\nlogger.apache.level=WARN\n"
        )
        if (self.state_dir / "data" / "meta.properties").exists():
            return
        cluster_id = self._kafka_tool("kafka.tools.StorageTool", "random-uuid").strip()
        self._kafka_tool(
            "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config_file)
        )

    def _java(self) -> list[str]:
        return [
            str(self.java_home / "bin" / "java"),
            "-cp",
            f"{self.jars}/*",
            f"-Dlog4j2.configurationFile={self.state_dir / 'log4j2.properties'}",
        ]

    def _kafka_tool(self, main_class: str, *args: str) -> str:
        done = subprocess.run([*self._java(), main_class, *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise self.error(
                f"{main_class} {args[0]} failed: {done.stderr.strip()[-600:]}",
                f"remove {self.state_dir} to start from scratch",
                with_log=False,
            )
        return done.stdout

    def command(self) -> list[str]:
        java = self._java()
        return [
            java[0],
            "-Xms256m",
            "-Xmx512m",
            "-XX:+UseG1GC",
            *java[1:],
            "kafka.Kafka",
            str(self.config_file),
        ]

    def _admin(self) -> AdminClient:
        return AdminClient(
            {"bootstrap.servers": self.settings.kafka_bootstrap_servers, "socket.timeout.ms": 3000}
        )

    def healthy(self) -> bool:
        if not tcp_open(self.settings.kafka_port):
            return False
        try:
            metadata = self._admin().list_topics(timeout=3)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def after_healthy(self) -> None:
        ensure_topics(self.settings)


def ensure_topics(settings: Settings) -> None:
    """Create the project's topics with their partition counts; existing topics are kept."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    wanted = {
        settings.transactions_topic: settings.transactions_partitions,
        settings.alerts_topic: settings.alerts_partitions,
        settings.dead_letter_topic: 1,
    }
    existing = admin.list_topics(timeout=10).topics
    missing = [
        NewTopic(name, num_partitions=count, replication_factor=1)
        for name, count in wanted.items()
        if name not in existing
    ]
    for future in admin.create_topics(missing).values() if missing else []:
        try:
            future.result(timeout=30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise


@dataclass(kw_only=True)
class FlinkProcess(Service):
    """A Flink session cluster process from the apache-flink wheel, with our conf and lib dirs."""

    needs_java: bool = True
    script: str = ""

    def install(self) -> None:
        import pyflink

        self.flink_home = Path(pyflink.__file__).parent
        self.java_home = java_home(self.settings, self.name)
        self.connector_jars = maven_jars(self.settings, "flink")

    @property
    def flink_dir(self) -> Path:
        return self.settings.stack_dir / "flink"

    @property
    def tmp_dir(self) -> Path:
        return self.state_dir / "tmp"

    def prepare(self) -> None:
        prepare_flink_dirs(self.settings, self.flink_home, self.connector_jars)
        # The process's working directory, blobs and spill files: it never removes them when it
        # is killed (hundreds of MB per TaskManager start in /tmp, by default). Nothing in them
        # is used by the next start: checkpoints and savepoints live elsewhere.
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)

    def environment(self) -> dict[str, str]:
        return flink_environment(self.settings, self.flink_home, self.java_home)

    def command(self) -> list[str]:
        return [
            "bash",
            str(self.flink_home / "bin" / self.script),
            "start-foreground",
            "-D",
            f"io.tmp.dirs={self.tmp_dir}",
        ]


def prepare_flink_dirs(settings: Settings, flink_home: Path, connector_jars: Path) -> None:
    flink_dir = settings.stack_dir / "flink"
    lib, conf = flink_dir / "lib", flink_dir / "conf"
    for directory in (
        lib,
        conf,
        flink_dir / "log",
        flink_dir / "checkpoints",
        flink_dir / "savepoints",
    ):
        directory.mkdir(parents=True, exist_ok=True)
    for jar in [*(flink_home / "lib").glob("*.jar"), *connector_jars.glob("*.jar")]:
        link = lib / jar.name
        if not link.exists():
            link.symlink_to(jar)
    for name in (
        "log4j.properties",
        "log4j-console.properties",
        "log4j-cli.properties",
        "log4j-session.properties",
        "logback.xml",
        "logback-console.xml",
    ):
        shutil.copyfile(flink_home / "conf" / name, conf / name)
    rest = urlsplit(settings.flink_rest_url)
    # The distribution's JVM options (module opens that Flink needs on Java 17) plus ours.
    shipped = yaml.safe_load((flink_home / "conf" / "config.yaml").read_text())
    java_options = shipped["env"]["java"]["opts"]["all"]
    (conf / "config.yaml").write_text(
        "\n".join(
            [
                f"env.java.opts.all: {java_options}",
                f"jobmanager.rpc.address: {settings.flink_jobmanager_host}",
                f"jobmanager.bind-host: {settings.flink_bind_host}",
                f"taskmanager.bind-host: {settings.flink_bind_host}",
                f"taskmanager.host: {settings.flink_taskmanager_host}",
                f"rest.address: {rest.hostname}",
                f"rest.bind-address: {settings.flink_bind_host}",
                f"rest.port: {rest.port or 8081}",
                "jobmanager.memory.process.size: 1024m",
                # the CEP job keeps per-card pattern state on the heap: in a 3 GB process it held
                # over half the heap, G1 marked back to back and the job ran at half its rate
                "taskmanager.memory.process.size: 6144m",
                # keyed state lives on the heap (hashmap backend) and the jobs are pure SQL, no
                # Python UDFs: the memory Flink reserves for RocksDB and Python is better as heap
                "taskmanager.memory.managed.fraction: 0.05",
                "taskmanager.numberOfTaskSlots: 4",
                "parallelism.default: 1",
                f"python.executable: {sys.executable}",
                f"python.client.executable: {sys.executable}",
                f"execution.checkpointing.dir: file://{flink_dir / 'checkpoints'}",
                f"execution.checkpointing.savepoint-dir: file://{flink_dir / 'savepoints'}",
                "",
            ]
        )
    )


def flink_environment(settings: Settings, flink_home: Path, java: Path) -> dict[str, str]:
    flink_dir = settings.stack_dir / "flink"
    return {
        "FLINK_HOME": str(flink_home),
        "FLINK_CONF_DIR": str(flink_dir / "conf"),
        "FLINK_LIB_DIR": str(flink_dir / "lib"),
        "FLINK_LOG_DIR": str(flink_dir / "log"),
        "JAVA_HOME": str(java),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@dataclass(kw_only=True)
class FlinkJobManager(FlinkProcess):
    name: str = "flink-jobmanager"
    description: str = "Flink session cluster: JobManager, REST API and Web UI"
    script: str = "jobmanager.sh"

    def __post_init__(self) -> None:
        self.ports = [
            Port(self.settings.flink_rest_port, "Flink REST and Web UI", "HYBRID_FLINK_REST_URL"),
            Port(6123, "Flink JobManager RPC", "(fixed)"),
        ]

    def url(self) -> str:
        return self.settings.flink_ui_url

    def healthy(self) -> bool:
        return _http_ok(f"{self.settings.flink_rest_url}/config") is not None


@dataclass(kw_only=True)
class FlinkTaskManager(FlinkProcess):
    name: str = "flink-taskmanager"
    description: str = "Flink session cluster: TaskManager (4 slots)"
    script: str = "taskmanager.sh"

    def healthy(self) -> bool:
        overview = _http_ok(f"{self.settings.flink_rest_url}/overview")
        return overview is not None and overview.json().get("taskmanagers", 0) >= 1


@dataclass(kw_only=True)
class RayHead(Service):
    name: str = "ray"
    description: str = "Ray head node: dashboard and Jobs API"

    def __post_init__(self) -> None:
        self.ports = [
            Port(self.settings.ray_gcs_port, "Ray GCS", "HYBRID_RAY_GCS_PORT"),
            Port(
                self.settings.ray_dashboard_port, "Ray dashboard and Jobs API", "HYBRID_RAY_ADDRESS"
            ),
        ]

    def url(self) -> str:
        return self.settings.ray_dashboard_url

    def install(self) -> None:
        self.ray = venv_tool("ray")

    def prepare(self) -> None:
        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        # Each head start is a new session directory holding that session's logs and runtime
        # environments (a clone of the venv per environment: gigabytes). Nothing in an old one
        # is used again (the job logs the project keeps are in PostgreSQL), so they go.
        for old_session in (self.state_dir / "tmp").glob("session_2*"):
            shutil.rmtree(old_session, ignore_errors=True)

    def environment(self) -> dict[str, str]:
        # Explicit, so a token left in ~/.ray by some other Ray session cannot switch auth on.
        # The venv first on PATH: job entrypoints say `python` and must get this environment.
        return {
            "RAY_AUTH_MODE": "disabled",
            "RAY_USAGE_STATS_ENABLED": "0",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }

    def command(self) -> list[str]:
        dashboard = urlsplit(self.settings.ray_address)
        return [
            str(self.ray),
            "start",
            "--head",
            "--block",
            "--port",
            str(self.settings.ray_gcs_port),
            "--node-ip-address",
            "127.0.0.1",
            "--dashboard-host",
            dashboard.hostname or "127.0.0.1",
            "--dashboard-port",
            str(self.settings.ray_dashboard_port),
            "--include-dashboard",
            "true",
            "--num-cpus",
            "2",
            "--object-store-memory",
            str(512 * 1024 * 1024),
            "--temp-dir",
            str(self.state_dir / "tmp"),
            "--disable-usage-stats",
        ]

    def healthy(self) -> bool:
        return _http_ok(f"{self.settings.ray_address}/api/jobs/") is not None


@dataclass(kw_only=True)
class Worker(Service):
    name: str = "worker"
    description: str = "Temporal worker: all workflows and activities"

    def prepare(self) -> None:
        self.state_dir.mkdir(parents=True, exist_ok=True)

    def command(self) -> list[str]:
        return [sys.executable, "-m", "cli.main", "worker"]

    def healthy(self) -> bool:
        return "worker ready" in self.log_file.read_text(errors="replace").rsplit("=====", 1)[-1]


def infrastructure(settings: Settings) -> list[Service]:
    """Every long-running service of the local stack, in start order."""
    return [
        Postgres(settings=settings),
        Temporal(settings=settings),
        Kafka(settings=settings),
        FlinkJobManager(settings=settings),
        FlinkTaskManager(settings=settings),
        RayHead(settings=settings),
    ]
