"""Kafka: one Apache Kafka broker in KRaft mode (broker and controller in one process), from the
jars of infra/jvm/kafka-broker; the project's topics once it answers."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException

from core.kafka import admin, ensure_topics
from core.toolchain import java_home, maven_jars
from stack.base import Port, Service, tcp_open

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

    def healthy(self) -> bool:
        if not tcp_open(self.settings.kafka_port):
            return False
        try:
            metadata = admin(self.settings, **{"socket.timeout.ms": 3000}).list_topics(timeout=3)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def after_healthy(self) -> None:
        ensure_topics(self.settings)
