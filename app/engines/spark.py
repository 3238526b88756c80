"""Running PySpark jobs with spark-submit against the configured master.

`HYBRID_SPARK_MASTER=local[2]` runs the job in the spark-submit process on this machine; a
`spark://host:7077` master runs the same command against a standalone cluster (client mode,
the only mode PySpark supports there). The Kafka source and the JDBC driver travel with --jars."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from app.settings import Settings
from app.stack.tools import java_home, maven_jars, venv_tool


def spark_submit_command(
    settings: Settings, script: Path, args: list[str], app_name: str
) -> list[str]:
    jars = sorted(maven_jars(settings, "spark").glob("*.jar"))
    return [
        str(venv_tool("spark-submit")),
        "--master",
        settings.spark_master,
        "--name",
        app_name,
        "--jars",
        ",".join(str(j) for j in jars),
        "--conf",
        "spark.ui.showConsoleProgress=false",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        "spark.sql.session.timeZone=UTC",
        str(script),
        *args,
    ]


def spark_environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "JAVA_HOME": str(java_home(settings, "spark")),
        "PYSPARK_PYTHON": sys.executable,
    }
