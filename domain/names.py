"""The names that reach an engine or the file system, as pydantic types: a value that Kafka,
Flink, Ray or a path cannot take is refused at the boundary, before any side effect (an empty
consumer group crashed the worker inside librdkafka; a 10,000-character run id failed only once
Spark wrote its directory)."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints, TypeAdapter, ValidationError

# Kafka topics and consumer groups: Kafka's own alphabet and length, never "." or ".."
KafkaName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,248}$")]
# run ids, model names and versions: they name directories in the lake and the model store
PathName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")]
# a registry model's name: versions are `<model name>-<pipeline id>`, so it is shorter
ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")]

_KAFKA_NAME: TypeAdapter[str] = TypeAdapter(KafkaName)


def kafka_name_problem(value: str, what: str) -> str | None:
    """Why `value` cannot be a Kafka topic or consumer group (`what` it is meant to be)."""
    try:
        _KAFKA_NAME.validate_python(value)
    except ValidationError:
        return (
            f"{value[:80]!r} is not a Kafka {what}: 1 to 249 letters, digits, '.', '_' or '-',"
            " not starting with '.'"
        )
    return None
