"""The feature ETL's two halves outside Spark: planning a run's offset ranges in PostgreSQL, and
running `jobs/spark/features.py` with spark-submit and recording what it committed."""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode, urlsplit

import psycopg

from core.db.connections import connect
from core.engines.lifecycle import failure_excerpt, summary_line
from core.engines.spark import SparkApplication, spark_submit_command
from core.errors import ActionableError, InvalidInput, MissingPrerequisite
from core.kafka import watermarks
from core.settings import PROJECT_ROOT, Settings
from domain.pipeline.features import FEATURES
from domain.pipeline.models import EtlPlan, EtlResult, PartitionRange

ETL_JOB = PROJECT_ROOT / "jobs" / "spark" / "features.py"
ENDED_UNSUCCESSFULLY = ("FAILED", "ABANDONED")


class EtlRunUnfinished(MissingPrerequisite):
    """Another run of the topic was planned and has not succeeded: it must be finished first."""


class EtlJobFailed(ActionableError):
    """The run's Spark application failed: its log says why."""


def plan_run(
    settings: Settings, topic: str, run_id: str, adopt_unfinished: bool = False
) -> EtlPlan:
    """The run's ranges: recorded ones when the run exists; otherwise from where the topic's last
    succeeded run ended (or the earliest offset) to the current end of each partition.

    An unfinished earlier run of the topic blocks new runs, unless `adopt_unfinished`: then that
    run's plan is returned, so that a pipeline finishes what a failed one left."""
    with connect(settings.postgres_dsn) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtextextended('etl:' || %s, 0))", (topic,))
        existing = conn.execute("select topic, status from etl_runs where run_id = %s", (run_id,))
        row = existing.fetchone()
        if row is not None:
            if row[0] != topic:
                raise InvalidInput(f"ETL run {run_id} reads topic {row[0]}, not {topic}")
            if row[1] in ENDED_UNSUCCESSFULLY:
                # its range is read again by the topic's next run: running it too would read
                # the records twice
                raise InvalidInput(
                    f"ETL run {run_id} is {row[1]}", "start a new run: give another --run-id"
                )
            return _load_plan(conn, run_id, topic)
        unfinished = conn.execute(
            "select run_id from etl_runs where topic = %s and status = 'PLANNED'", (topic,)
        ).fetchone()
        if unfinished and adopt_unfinished:
            return _load_plan(conn, unfinished[0], topic)
        if unfinished:
            raise EtlRunUnfinished(
                f"ETL run {unfinished[0]} of topic {topic} has not succeeded",
                f"finish it first: `./hybrid etl run --run-id {unfinished[0]}`",
            )
        done: dict[int, int] = dict(
            conn.execute(
                "select o.partition, max(o.end_offset) from etl_run_offsets o"
                " join etl_runs r using (run_id) where r.topic = %s and r.status = 'SUCCEEDED'"
                " group by o.partition",
                (topic,),
            ).fetchall()
        )
        ends = watermarks(settings, topic)
        behind = {p: done[p] for p, (_, high) in ends.items() if done.get(p, 0) > high}
        if behind:
            where = ", ".join(f"{p}: {o} / {ends[p][1]}" for p, o in behind.items())
            raise InvalidInput(
                f"Kafka topic {topic} ends before what earlier ETL runs of it read (partition:"
                f" read to / ends at {where}): it was recreated after them, and its records"
                " would be read from the wrong place",
                "give the new topic another name (--topic), or start from an empty stack:"
                " `./hybrid stack down --purge`",
            )
        ranges = [
            PartitionRange(partition=p, start_offset=max(done.get(p, low), low), end_offset=high)
            for p, (low, high) in sorted(ends.items())
        ]
        conn.execute("insert into etl_runs (run_id, topic) values (%s, %s)", (run_id, topic))
        with conn.cursor() as cursor:
            cursor.executemany(
                "insert into etl_run_offsets (run_id, partition, start_offset, end_offset)"
                " values (%s, %s, %s, %s)",
                [(run_id, r.partition, r.start_offset, r.end_offset) for r in ranges],
            )
        return _load_plan(conn, run_id, topic)


def _load_plan(conn: psycopg.Connection, run_id: str, topic: str) -> EtlPlan:
    ranges = conn.execute(
        "select partition, start_offset, end_offset from etl_run_offsets where run_id = %s"
        " order by partition",
        (run_id,),
    ).fetchall()
    history = conn.execute(
        "select run_id from etl_runs where topic = %s and status = 'SUCCEEDED'"
        " and planned_at < (select planned_at from etl_runs where run_id = %s) order by planned_at",
        (topic, run_id),
    ).fetchall()
    return EtlPlan(
        run_id=run_id,
        topic=topic,
        ranges=[PartitionRange(partition=p, start_offset=s, end_offset=e) for p, s, e in ranges],
        history_runs=[r for (r,) in history],
    )


# the Spark job reads the database password from this variable (jobs/spark/features.py has the
# same name: a unit test holds the two together), never from its command line
JDBC_PASSWORD_VARIABLE = "HYBRID_ETL_JDBC_PASSWORD"


def jdbc_url(dsn: str) -> str:
    """The JDBC URL of the database, with its user and without its password."""
    parts = urlsplit(dsn)
    query = urlencode({"user": parts.username or ""})
    return f"jdbc:postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}?{query}"


def spark_arguments(settings: Settings, plan: EtlPlan) -> list[str]:
    return [
        "--bootstrap-servers",
        settings.kafka_bootstrap_servers,
        "--topic",
        plan.topic,
        "--run-id",
        plan.run_id,
        "--offsets",
        json.dumps({str(r.partition): [r.start_offset, r.end_offset] for r in plan.ranges}),
        "--history-runs",
        ",".join(plan.history_runs),
        "--lake-dir",
        str(settings.lake_dir),
        "--jdbc-url",
        jdbc_url(settings.postgres_dsn),
        "--features",
        ",".join(FEATURES),
        "--label-delay-days",
        str(settings.fraud_label_delay_days),
    ]


def features_application(settings: Settings, plan: EtlPlan) -> SparkApplication:
    return SparkApplication(
        settings,
        plan.submission_id,
        spark_submit_command(
            settings, ETL_JOB, spark_arguments(settings, plan), plan.submission_id
        ),
        environment={JDBC_PASSWORD_VARIABLE: urlsplit(settings.postgres_dsn).password or ""},
    )


def end_unfinished_run(settings: Settings, run_id: str, status: str, reason: str) -> bool:
    """Mark a PLANNED run FAILED or ABANDONED, with why: the topic's next run plans afresh from
    the last succeeded run. False when the run is not PLANNED (already ended, or unknown)."""
    with connect(settings.postgres_dsn) as conn:
        ended = conn.execute(
            "update etl_runs set status = %s, failure = %s, finished_at = now()"
            " where run_id = %s and status = 'PLANNED'",
            (status, reason[:2000], run_id),
        )
    return ended.rowcount == 1


def abandon_run(settings: Settings, run_id: str) -> None:
    """An operator gives up an unfinished run (`./hybrid etl abandon`)."""
    if not end_unfinished_run(settings, run_id, "ABANDONED", "abandoned by an operator"):
        with connect(settings.postgres_dsn) as conn:
            row = conn.execute("select status from etl_runs where run_id = %s", (run_id,))
            status = row.fetchone()
        raise InvalidInput(
            f"ETL run {run_id} is {status[0] if status else 'unknown'}, not PLANNED",
            "only an unfinished run can be abandoned: see the runs with"
            " `select run_id, topic, status from etl_runs`",
        )


def record_success(settings: Settings, plan: EtlPlan, summary: str) -> EtlResult:
    """Mark the run succeeded with the manifest the job committed (its summary line)."""
    result = EtlResult.model_validate_json(summary)
    with connect(settings.postgres_dsn) as conn:
        conn.execute(
            "update etl_runs set status = 'SUCCEEDED', output_path = %s, rows_written = %s,"
            " finished_at = coalesce(finished_at, now()) where run_id = %s",
            (result.output, result.rows, plan.run_id),
        )
    return result


def run_features_job(settings: Settings, plan: EtlPlan, timeout_s: float = 1800) -> EtlResult:
    """Run (or attach to) the run's Spark application and wait for it: the command-line path.
    Workflows supervise the same application from an activity instead."""
    application = features_application(settings, plan)
    application.start_or_attach()
    deadline = time.monotonic() + timeout_s
    while (state := application.poll()) == "RUNNING":
        if time.monotonic() > deadline:
            application.stop()
            raise EtlJobFailed(
                f"feature ETL run {plan.run_id} timed out after {timeout_s} s",
                f"read its log in {application.directory}",
            )
        time.sleep(1)
    if state != "SUCCEEDED":
        raise EtlJobFailed(
            f"feature ETL run {plan.run_id} {state.lower()}:\n"
            + failure_excerpt(application.logs()),
            f"read its whole log in {application.directory}",
        )
    return record_success(settings, plan, summary_line(application.logs()))
