"""The compose stack (infra/docker-compose.yml, infra/Dockerfile) against the project itself.

No machine here runs a Docker engine, so the compose stack is kept right by construction and by
these checks: its containers must get the settings, ports, topics, search attributes, jars and
metric names that the code and the local stack use."""

from __future__ import annotations

import json
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from core import toolchain as tools
from core.engines.flink import flink_home, prepare_flink_dirs
from core.settings import PROJECT_ROOT, Settings
from domain.orders.search_attributes import ALL as SEARCH_ATTRIBUTES
from stack.services.kafka import SINGLE_NODE_BROKER_SETTINGS
from stack.services.temporal import search_attribute_types
from tests.support.compose import COMPOSE_FILE, TEST_ENVIRONMENT, compose_file
from tests.support.compose_cli import compose_command
from tests.support.project import SOURCE_PACKAGES

INFRA = PROJECT_ROOT / "infra"
COMPOSE: dict[str, Any] = compose_file()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
# the local stack's defaults, untouched by this machine's environment
LOCAL = Settings.model_construct()

# What the worker needs to reach every service and the storage it shares with the engines.
WORKER_CONNECTIONS = {
    "postgres_dsn",
    "temporal_address",
    "temporal_namespace",
    "kafka_bootstrap_servers",
    "flink_rest_url",
    "flink_jobmanager_host",
    "flink_taskmanager_host",
    "flink_bind_host",
    "spark_master",
    "spark_apps_dir",
    "ray_address",
    "lake_dir",
    "model_store_dir",
    "metrics_bind_address",
}

# The Temporal SDK's metrics on the dashboard (histograms also as _bucket, _sum and _count).
# The worker's Prometheus exporter keeps its default names: no `_total` on counters, no unit
# suffix, durations in milliseconds.
SDK_COUNTERS = {"temporal_workflow_completed", "temporal_workflow_failed"}
SDK_HISTOGRAMS = {"temporal_activity_execution_latency"}


# --- reading the files ------------------------------------------------------------------------


@dataclass
class Stage:
    name: str
    parent: str
    instructions: list[str] = field(default_factory=list)


def dockerfile_stages() -> dict[str, Stage]:
    """The Dockerfile's stages in order, each with its instructions (continuations joined)."""
    text = re.sub(r"\\\n", " ", (INFRA / "Dockerfile").read_text())
    stages: dict[str, Stage] = {}
    for line in text.splitlines():
        line = " ".join(line.split())
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            parent, _, name = line.removeprefix("FROM ").partition(" AS ")
            stages[name] = Stage(name, parent)
        else:
            list(stages.values())[-1].instructions.append(line)
    return stages


def image_environment() -> dict[str, str]:
    """The ENV of the image's final stage, inherited ones included."""
    stages = dockerfile_stages()
    lineage = [list(stages.values())[-1]]
    while lineage[-1].parent in stages:
        lineage.append(stages[lineage[-1].parent])
    environment: dict[str, str] = {}
    for stage in reversed(lineage):
        for instruction in stage.instructions:
            if instruction.startswith("ENV "):
                key, _, value = instruction.removeprefix("ENV ").partition("=")
                environment[key] = value
    return environment


def project_services() -> list[str]:
    """The services that run the project's image (built from infra/Dockerfile)."""
    return [name for name, service in SERVICES.items() if "build" in service]


def one_shots() -> list[str]:
    return [name for name, service in SERVICES.items() if service.get("restart") == "no"]


def hybrid_environment(service: str) -> dict[str, str]:
    environment = SERVICES[service].get("environment", {})
    return {key: str(value) for key, value in environment.items() if key.startswith("HYBRID_")}


def setting_name(variable: str) -> str:
    return variable.removeprefix("HYBRID_").lower()


def container_settings(service: str = "worker") -> Settings:
    """The settings a project container sees: the image's HYBRID_* variables, then the service's."""
    environment = {**image_environment(), **hybrid_environment(service)}
    return Settings.model_validate(
        {
            setting_name(key): value
            for key, value in environment.items()
            if key.startswith("HYBRID_")
        }
    )


def published_ports(service: str) -> set[tuple[int, int]]:
    """(host, container) pairs of a service's `ports` (host address:host port:container port)."""
    entries = (entry.split(":") for entry in SERVICES[service].get("ports", []))
    return {(int(host), int(container)) for _, host, container in entries}


def health_check(service: str) -> str:
    return " ".join(SERVICES[service]["healthcheck"]["test"][1:])


def volume_targets(service: str) -> dict[str, str]:
    """Named volume -> mount path of a service (bind mounts left out)."""
    mounts = (entry.split(":")[:2] for entry in SERVICES[service].get("volumes", []))
    return {source: target for source, target in mounts if source in COMPOSE["volumes"]}


def host(address: str) -> str:
    return urlsplit(address if "://" in address else f"//{address}").hostname or ""


# --- the checks -------------------------------------------------------------------------------


def test_project_containers_get_every_address_the_worker_needs() -> None:
    for service in project_services():
        configured = {setting_name(key) for key in hybrid_environment(service)}
        missing = WORKER_CONNECTIONS - configured
        assert not missing, f"{service}: no HYBRID_ variable for {sorted(missing)}"


def test_every_hybrid_variable_is_a_setting() -> None:
    variables = {key for key in image_environment() if key.startswith("HYBRID_")}
    for service in SERVICES:
        variables |= set(hybrid_environment(service))
    unknown = {key for key in variables if setting_name(key) not in Settings.model_fields}
    assert not unknown, f"not settings (typos?): {sorted(unknown)}"


def test_project_containers_share_one_environment() -> None:
    """Topics, task queues and addresses cannot differ between two of the project's containers."""
    environments = {service: hybrid_environment(service) for service in project_services()}
    assert len({json.dumps(env, sort_keys=True) for env in environments.values()}) == 1


def test_settings_parse_and_point_at_compose_services() -> None:
    settings = container_settings()
    addresses = {
        "postgres_dsn": host(settings.postgres_dsn),
        "temporal_address": host(settings.temporal_address),
        "flink_rest_url": host(settings.flink_rest_url),
        "flink_jobmanager_host": settings.flink_jobmanager_host,
        "flink_taskmanager_host": settings.flink_taskmanager_host,
        "ray_address": host(settings.ray_address),
        "spark_master": host(settings.spark_master),
        **{
            f"kafka_bootstrap_servers ({server})": host(server)
            for server in settings.kafka_bootstrap_servers.split(",")
        },
    }
    for setting, hostname in addresses.items():
        assert hostname in SERVICES, f"{setting}: {hostname!r} is not a compose service"


def test_published_ports_are_the_local_stacks() -> None:
    """The host sees the compose stack where it would see the local stack."""
    settings = container_settings()
    dsn = urlsplit(settings.postgres_dsn)
    assert (LOCAL.postgres_port, settings.postgres_port) in published_ports(dsn.hostname or "")
    assert (LOCAL.temporal_port, settings.temporal_port) in published_ports("temporal")
    assert (LOCAL.temporal_ui_port, 8080) in published_ports("temporal-ui")
    assert urlsplit(LOCAL.temporal_ui_url).port == LOCAL.temporal_ui_port
    assert (LOCAL.flink_rest_port, settings.flink_rest_port) in published_ports(
        host(settings.flink_rest_url)
    )
    assert (LOCAL.ray_dashboard_port, settings.ray_dashboard_port) in published_ports(
        host(settings.ray_address)
    )
    assert (LOCAL.kafka_port, LOCAL.kafka_port) in published_ports("kafka")


def test_postgres_serves_the_projects_database() -> None:
    dsn = urlsplit(container_settings().postgres_dsn)
    environment = SERVICES[dsn.hostname or ""]["environment"]
    assert environment["POSTGRES_USER"] == dsn.username
    assert environment["POSTGRES_PASSWORD"] == dsn.password
    assert environment["POSTGRES_DB"] == dsn.path.lstrip("/")
    assert dsn.port == 5432


def test_kafka_broker_is_the_local_stacks() -> None:
    """Same Kafka release as the local stack's jars, same single-node settings, and listeners for
    the containers (the bootstrap servers setting) and for the host (the local stack's port)."""
    kafka = SERVICES["kafka"]
    manifest = (tools.JVM_MANIFEST / "pom.xml").read_text()
    version = re.search(r"<kafka\.version>(.+)</kafka\.version>", manifest)
    assert version is not None
    assert kafka["image"] == f"apache/kafka:{version.group(1)}"
    environment = kafka["environment"]
    for key, value in SINGLE_NODE_BROKER_SETTINGS.items():
        assert environment.get("KAFKA_" + key.upper().replace(".", "_")) == value, key
    advertised = {
        listener.split("://")[1]
        for listener in environment["KAFKA_ADVERTISED_LISTENERS"].split(",")
    }
    assert set(container_settings().kafka_bootstrap_servers.split(",")) <= advertised
    assert LOCAL.kafka_bootstrap_servers in advertised


def test_health_checks_probe_the_configured_addresses() -> None:
    settings = container_settings()
    metrics_port = int(settings.metrics_bind_address.rsplit(":", 1)[1])
    assert f"{settings.flink_rest_url}/config" in health_check("flink-jobmanager")
    assert f"{settings.flink_rest_url}/overview" in health_check("flink-taskmanager")
    assert f"{settings.ray_address}/api/jobs/" in health_check(host(settings.ray_address))
    assert f"http://localhost:{metrics_port}/metrics" in health_check("worker")


def test_spark_cluster_is_the_spark_master_setting() -> None:
    master = urlsplit(container_settings().spark_master)
    command = SERVICES[master.hostname or ""]["command"]
    assert command[command.index("--host") + 1] == master.hostname
    assert command[command.index("--port") + 1] == str(master.port)
    assert SERVICES["spark-worker"]["command"][-1] == container_settings().spark_master


def test_prometheus_scrapes_the_worker() -> None:
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for job in config["scrape_configs"]
        for static in job["static_configs"]
        for target in static["targets"]
    ]
    metrics_port = container_settings().metrics_bind_address.rsplit(":", 1)[1]
    assert targets == [f"worker:{metrics_port}"]


def test_shared_directories_are_named_volumes_at_the_settings_paths() -> None:
    """The lake, the model store, the Spark applications and Flink's checkpoints and savepoints
    are the same files in every project container (worker, Spark, Ray, Flink)."""
    settings = container_settings()
    flink_dir = settings.stack_dir / "flink"
    wanted = {
        settings.lake_dir,
        settings.model_store_dir,
        settings.spark_apps_dir,
        flink_dir / "checkpoints",
        flink_dir / "savepoints",
    }
    for service in project_services():
        assert {Path(target) for target in volume_targets(service).values()} == wanted, service


def test_image_creates_the_volume_mount_points_for_its_user() -> None:
    """Docker initialises an empty named volume from the image's directory, owner included."""
    runtime = list(dockerfile_stages().values())[-1]
    user = next(i.split()[1] for i in runtime.instructions if i.startswith("USER "))
    setup = " ".join(i for i in runtime.instructions if "mkdir -p" in i)
    chown = re.search(r"chown -R (\S+) (\S+)", setup)
    assert chown is not None, "the image creates no directories for its user"
    owner, owned = chown.groups()
    assert owner == f"{user}:{user}"
    for target in volume_targets("worker").values():
        assert target in setup.split(), f"{target} is not created in the image"
        assert target.startswith(owned + "/"), f"{target} is not owned by {user}"


def test_flink_processes_find_each_other_by_service_name(tmp_path: Path) -> None:
    settings = container_settings().model_copy(update={"stack_dir": tmp_path})
    prepare_flink_dirs(settings, flink_home(), tmp_path)
    config = yaml.safe_load((tmp_path / "flink" / "conf" / "config.yaml").read_text())
    assert config["jobmanager.rpc.address"] == "flink-jobmanager"
    assert config["taskmanager.host"] == "flink-taskmanager"
    for bind_setting in ("jobmanager.bind-host", "taskmanager.bind-host", "rest.bind-address"):
        assert config[bind_setting] == "0.0.0.0"
    assert config["rest.address"] == host(settings.flink_rest_url)


def test_flink_defaults_keep_the_local_stack_on_localhost(tmp_path: Path) -> None:
    settings = LOCAL.model_copy(update={"stack_dir": tmp_path})
    prepare_flink_dirs(settings, flink_home(), tmp_path)
    config = yaml.safe_load((tmp_path / "flink" / "conf" / "config.yaml").read_text())
    for key in (
        "jobmanager.rpc.address",
        "jobmanager.bind-host",
        "taskmanager.bind-host",
        "taskmanager.host",
        "rest.address",
        "rest.bind-address",
    ):
        assert config[key] == "localhost", key


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        if "build" in service:
            continue
        repository, _, tag = service["image"].rpartition(":")
        assert repository, f"{name}: {service['image']!r} has no tag"
        assert "/" not in tag, f"{name}: {service['image']!r} has no tag"
        assert tag != "latest", f"{name}: {service['image']!r} is not pinned"


def test_long_running_services_have_health_checks() -> None:
    for name, service in SERVICES.items():
        if name not in one_shots():
            assert service.get("restart") == "unless-stopped", name
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_demo_waits_for_everything_else() -> None:
    expected = {
        name: "service_completed_successfully" if name in one_shots() else "service_healthy"
        for name in SERVICES
        if name != "demo"
    }
    depends_on = SERVICES["demo"]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends_on.items()} == expected


def test_search_attributes_are_the_workflows() -> None:
    setup = SERVICES["temporal-setup"]["environment"]
    registered = dict(pair.split("=") for pair in setup["SEARCH_ATTRIBUTES"].split())
    assert registered == search_attribute_types()
    assert set(registered) == {key.name for key in SEARCH_ATTRIBUTES}
    settings = container_settings()
    assert setup["NAMESPACE"] == settings.temporal_namespace
    assert setup["TEMPORAL_ADDRESS"] == settings.temporal_address


def test_image_lays_out_the_jars_where_maven_jars_finds_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The image resolves the jars with the local stack's own command into its stack directory,
    and from the same copy of infra/jvm that the containers hash; a stamp in place means that
    maven_jars() never looks for Maven."""
    stages = dockerfile_stages()
    jars_stage = next(
        (
            stage
            for stage in stages.values()
            for i in stage.instructions
            if i.startswith("RUN ") and i.endswith(" hybrid stack jars")
        ),
        None,
    )
    assert jars_stage is not None, "no stage runs `hybrid stack jars`"
    runtime = list(stages.values())[-1]
    source_stage = jars_stage.parent
    assert f"COPY --from={source_stage} /opt/hybrid /opt/hybrid" in runtime.instructions
    jars = f"{image_environment()['HYBRID_STACK_DIR']}/jars"
    copies = [i for i in runtime.instructions if i.startswith(f"COPY --from={jars_stage.name} ")]
    assert len(copies) == 1
    assert copies[0].split()[-2:] == [jars, jars]
    assert "HYBRID_STACK_DIR" not in SERVICES["worker"]["environment"]

    modules = tools.jvm_modules()
    assert sorted(modules) == sorted(p.parent.name for p in tools.JVM_MANIFEST.glob("*/pom.xml"))
    settings = LOCAL.model_copy(update={"stack_dir": tmp_path})
    monkeypatch.setattr(tools.shutil, "which", lambda name: pytest.fail(f"looked for {name}"))
    for module in modules:
        stamp = tools.resolved_stamp(settings, module)
        stamp.parent.mkdir(parents=True)
        stamp.touch()
        assert tools.maven_jars(settings, module) == tmp_path / "jars" / module


def test_image_installs_the_venv_as_hybrid_does() -> None:
    """Same uv, same lock file, the project editable (so that it runs from its source tree)."""
    launcher = (PROJECT_ROOT / "hybrid").read_text()
    image = " ".join(i for stage in dockerfile_stages().values() for i in stage.instructions)
    launcher_uv, image_uv = (re.findall(r'"(uv==[^"]+)"', text) for text in (launcher, image))
    assert launcher_uv, "./hybrid pins no uv"
    assert image_uv == launcher_uv, f"./hybrid installs {launcher_uv}, the image {image_uv}"
    assert "-r requirements.lock" in image
    assert "--no-deps -e ." in image
    # byte-code for every package: the services cannot write it at run time
    compiled = re.search(r"compileall -q ([a-z ]+?)(?: RUN|$)", image)
    assert compiled is not None
    assert sorted(compiled.group(1).split()) == sorted(SOURCE_PACKAGES)


def test_grafana_dashboard_charts_metrics_the_worker_exports() -> None:
    dashboard = json.loads((INFRA / "grafana" / "dashboards" / "hybrid.json").read_text())
    datasource = yaml.safe_load(
        (INFRA / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"][0]
    project_metrics = {
        match.group(1)
        for directory in SOURCE_PACKAGES
        for source in (PROJECT_ROOT / directory).rglob("*.py")
        for match in re.finditer(
            r'create_(?:counter|histogram|gauge)\(\s*"(\w+)"', source.read_text()
        )
    }
    exported = (
        project_metrics
        | SDK_COUNTERS
        | {f"{name}{suffix}" for name in SDK_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
    )
    charted: set[str] = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == datasource["uid"], panel["title"]
            # a metric is a name followed by a selector or a range, e.g. `name[5m]` or `name{...}`
            metrics = set(re.findall(r"([a-zA-Z_:][\w:]*)\s*[\[{]", target["expr"]))
            assert metrics, f"{panel['title']}: no metric in {target['expr']!r}"
            assert metrics <= exported, f"{panel['title']}: unknown {sorted(metrics - exported)}"
            charted |= metrics
    assert project_metrics | SDK_COUNTERS <= charted
    assert {f"{name}_bucket" for name in SDK_HISTOGRAMS} <= charted


def test_compose_accepts_the_file_and_reads_it_as_these_checks_do(tmp_path: Path) -> None:
    """`docker compose config` with the env file `hybrid compose env` writes (test values): the
    file is valid, and Compose's reading of each service's environment and ports is the one the
    checks above use (tests/support/compose.py)."""
    command = compose_command(LOCAL)
    if command is None:
        pytest.skip("neither Docker Compose nor Go (to build the Compose CLI) is here")
    env_file = tmp_path / ".env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in TEST_ENVIRONMENT.items()))
    done = subprocess.run(
        [
            *command,
            "-f",
            str(COMPOSE_FILE),
            "--env-file",
            str(env_file),
            "config",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)["services"]
    assert set(resolved) == set(SERVICES)
    for name, service in SERVICES.items():
        environment = {k: str(v) for k, v in (service.get("environment") or {}).items()}
        assert resolved[name].get("environment", {}) == environment, name
        ports = {
            f"{p.get('host_ip', '')}:{p['published']}:{p['target']}"
            for p in resolved[name].get("ports", [])
        }
        assert ports == set(service.get("ports", [])), name
    # and without the env file, Compose refuses, saying what to run
    refused = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k not in TEST_ENVIRONMENT},
    )
    if (COMPOSE_FILE.parent / ".env").exists():
        return  # this checkout has its own infra/.env, which Compose reads
    assert refused.returncode != 0
    assert "run ./hybrid compose env" in refused.stderr
