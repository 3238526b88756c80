"""The streaming side's boundary types: the CEP job's specification (its thresholds and every
other argument of jobs/flink/fraud_cep.py), the rule sets the fused detector reads live and what
it says it did with them, the monitor that owns the job, the job's handle and progress, and the
alert router's progress.

`CepJobSpec` is the one owner of the CEP job's arguments: the submitting activity turns it into
the job's command line (activities/fraud/flink_jobs.py), and a unit test checks that the job's
own argparse defaults are these defaults.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.names import KafkaName

StartupMode = Literal["group-offsets", "earliest-offset", "latest-offset"]


# What the CEP job accepts, so that a threshold it cannot take is refused before the running
# job is stopped: a pattern's window is an INTERVAL SECOND(6) (under 1,000,000 s; a week here),
# an amount a DECIMAL(12, 2) (under 10^10; a billion here), a repetition a pattern quantifier.
MAX_WINDOW_S = 7 * 24 * 3600
MAX_AMOUNT = 1e9
MAX_REPEAT = 1000
HALF_EARTH_KM = 20_038.0


# the states of a job that has not ended, as the monitor shows them
LiveState = Literal["RUNNING", "RECOVERING"]


class CepThresholds(BaseModel):
    """Whether each pattern runs and what it matches (see jobs/flink/fraud_cep.py). The fused
    detector checks a rule set again when it arrives (jobs/flink/fused-detector Rules.java), and
    refuses one these bounds allow but it cannot run, such as card_testing_small at or above
    card_testing_large."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # card testing: at least N charges below SMALL, then one of at least LARGE, within WINDOW
    card_testing_enabled: bool = True
    card_testing_small: float = Field(default=2.00, gt=0, le=MAX_AMOUNT)
    card_testing_min_small: int = Field(default=3, ge=1, le=MAX_REPEAT)
    card_testing_large: float = Field(default=200.0, gt=0, le=MAX_AMOUNT)
    card_testing_window_s: int = Field(default=120, gt=0, le=MAX_WINDOW_S)
    # velocity burst: N charges within WINDOW
    velocity_enabled: bool = True
    velocity_count: int = Field(default=8, ge=2, le=MAX_REPEAT)
    velocity_window_s: int = Field(default=60, gt=0, le=MAX_WINDOW_S)
    # impossible travel: consecutive charges more than MIN_KM apart at more than MAX_KMH
    travel_enabled: bool = True
    travel_min_km: float = Field(default=1000.0, gt=0, le=HALF_EARTH_KM)
    travel_max_kmh: float = Field(default=900.0, gt=0, le=1e6)
    travel_window_s: int = Field(default=3600, gt=0, le=MAX_WINDOW_S)
    # escalation: 4 consecutive charges, each FACTOR x the last, the last at least MIN_FINAL
    escalation_enabled: bool = True
    escalation_factor: float = Field(default=2.0, gt=1, le=1000)
    escalation_min_final: float = Field(default=500.0, gt=0, le=MAX_AMOUNT)
    escalation_window_s: int = Field(default=180, gt=0, le=MAX_WINDOW_S)


# fused: one JVM operator per card (jobs/flink/fused_detector.py), its rules changed live;
# sql: the MATCH_RECOGNIZE job (jobs/flink/fraud_cep.py), the executable specification
DetectorEngine = Literal["fused", "sql"]


class CepJobSpec(BaseModel):
    """Every argument of the CEP job but the Kafka address (the worker's setting), and which job
    it is (the engine)."""

    model_config = ConfigDict(extra="forbid")

    engine: DetectorEngine = "fused"

    # deterministic: it is how a retried submission finds the job it started
    job_name: str = Field(default="fraud-cep", pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    source_topic: KafkaName = "transactions"
    alerts_topic: KafkaName = "fraud-alerts"
    dead_letter_topic: KafkaName = "transactions-dlq"
    group_id: KafkaName | None = Field(default=None, description="the job name when not given")
    startup_mode: StartupMode = "group-offsets"
    bounded: bool = Field(
        default=False, description="stop at the topic's end offsets at start (benchmarks)"
    )
    parallelism: int = Field(default=1, ge=1, le=64)
    checkpoint_interval_s: int = Field(default=10, gt=0, le=3600)
    watermark_delay_ms: int = Field(default=300, ge=0, le=3_600_000)
    # 0: partitions never go idle (see the job's --idle-timeout-s)
    idle_timeout_s: int = Field(default=0, ge=0, le=86_400)
    # the fused job evaluates a card's events as they arrive, and holds a card for the
    # watermark once one of its events came out of order; True holds every card from the start:
    # the SQL job's answers under any disorder within watermark_delay_ms, with that delay added
    # to the latency
    hold_until_watermark: bool = False
    # the fused job reads rule sets keyed by its job name from the (compacted) rules topic and
    # says what it did with each on the rules-applied topic; the SQL job takes neither
    rules_topic: KafkaName = "fraud-rules"
    rules_applied_topic: KafkaName = "fraud-rules-applied"
    # the version of `thresholds`, carried by every alert they fire
    rule_version: int = Field(default=0, ge=0)
    thresholds: CepThresholds = Field(default_factory=CepThresholds)


class RuleSet(BaseModel):
    """A record of the rules topic (its key: the job name). Versions only grow: the monitor
    makes them from the time it publishes, so a new monitor's rules supersede an old one's."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(ge=0)
    thresholds: CepThresholds


class RulesApplied(BaseModel):
    """A record of the rules-applied topic: what one subtask of the fused job did with a rule
    set (jobs/flink/fused-detector RulesApplied.java writes it)."""

    job_name: str
    version: int  # -1: the rule set said none
    subtask: int
    subtasks: int
    accepted: bool
    reason: str | None = None
    in_force: int  # the version in force after it
    at: datetime


class PublishRules(BaseModel):
    """Publish a rule set for the fused job, without waiting for the job to apply it."""

    model_config = ConfigDict(extra="forbid")

    job_name: str
    rules_topic: KafkaName
    rules: RuleSet


class ApplyRules(PublishRules):
    """Publish a rule set for the running fused job and wait until every subtask applied it."""

    rules_applied_topic: KafkaName
    timeout: timedelta = Field(default=timedelta(seconds=30), gt=timedelta(0))


class JobUpgrade(BaseModel):
    """FraudMonitorWorkflow.upgrade_job's input."""

    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, description="why, for the log")


class RulesInForce(BaseModel):
    version: int
    subtasks: int  # how many subtasks said they applied it


class MonitorRequest(CepJobSpec):
    """FraudMonitorWorkflow's input: the job it owns, and how it watches the job."""

    bounded: Literal[False] = False  # a monitored job runs until it is stopped
    poll_interval: timedelta = Field(
        default=timedelta(seconds=2), gt=timedelta(0), le=timedelta(minutes=1)
    )
    # how long one run of the workflow watches before it continues as new (bounded history)
    watch_period: timedelta = Field(
        default=timedelta(hours=1), ge=timedelta(seconds=1), le=timedelta(days=1)
    )
    max_restart_backoff: timedelta = Field(
        default=timedelta(minutes=1), gt=timedelta(0), le=timedelta(hours=1)
    )
    # carried across continue-as-new
    job_id: str | None = None
    restarts: int = Field(default=0, ge=0)
    interruptions: int = Field(default=0, ge=0)
    # the state the previous run showed for job_id (RUNNING or RECOVERING)
    job_state: LiveState | None = None
    savepoint: str | None = None

    def job_spec(self) -> CepJobSpec:
        return CepJobSpec.model_validate(self.model_dump(include=set(CepJobSpec.model_fields)))


class SubmitCepJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    spec: CepJobSpec
    savepoint: str | None = None  # restore from it


class JobHandle(BaseModel):
    job_id: str
    job_name: str
    attached: bool  # True when an already-running job of that name was found


class WatchJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    poll_interval: timedelta
    watch_period: timedelta
    # the watch ends early, reporting RESTARTING, once Flink has restarted the job this often
    report_after_restarts: int = Field(default=3, ge=1)
    # Flink's restart count to count from (the previous watch's, for the same job); None: the
    # count when this watch starts
    restarts_counted_from: int | None = Field(default=None, ge=0)
    # the state the monitor shows for the job (RUNNING or RECOVERING): a first poll that finds
    # another ends the watch at once; None right after a submission, whose tasks may still be
    # deploying
    reported_state: LiveState | None = None


class JobProgress(BaseModel):
    job_id: str
    # RUNNING (every task runs), RECOVERING (Flink restarts the job, or its tasks wait for a
    # TaskManager: `detail` says which), RESTARTING (Flink keeps restarting it: last_exception
    # says why), or Flink's final state
    state: str
    detail: str | None = None
    # the watch ended early because the state changed (the workflow records it, watches on)
    changed: bool = False
    # the change is an interruption: the job stopped processing, or Flink restarted it
    interrupted: bool = False
    restarts_counted_from: int = 0
    checkpoints: int = 0
    last_checkpoint: str | None = None
    records_in: int = 0
    records_out: int = 0
    flink_restarts: int = 0  # how often Flink restarted the job since it was submitted
    last_exception: str | None = None


class StopJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_id: str
    with_savepoint: bool = False


class CancelJob(BaseModel):
    model_config = ConfigDict(extra="forbid")

    job_name: str
    # None when no submission has returned yet; whatever runs under job_name is cancelled too:
    # a submission in flight when the workflow was cancelled started a job of unknown id
    job_id: str | None = None


class MonitorView(BaseModel):
    job_name: str
    job_id: str | None
    # SUBMITTING, RUNNING, RECOVERING, RESTARTING, SAVEPOINTING, or the job's final Flink state
    state: str
    thresholds: CepThresholds
    rule_version: int = 0  # the version of those thresholds, as the job acknowledged it
    restarts: int
    # times the job stopped processing and Flink recovered it (a TaskManager lost, ...)
    interruptions: int = 0
    last_interruption: str | None = None
    progress: JobProgress | None


class RouterProgress(BaseModel):
    """What the alert router has done, carried across its attempts in the heartbeat details."""

    alerts: int = 0
    new_alerts: int = 0
    signals: int = 0
    rejected_messages: int = 0
    last_alert_at: datetime | None = None
