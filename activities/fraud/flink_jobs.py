"""The Flink job lifecycle for FraudMonitorWorkflow: submit (or attach), watch, stop with a
savepoint, cancel. This module alone turns a CepJobSpec into the CEP job's command line."""

from __future__ import annotations

import asyncio
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.contract import implements
from core.engines.flink import TERMINAL_STATES, FlinkRest, FlinkSubmitError, submit_python_job
from core.kafka import ensure_topics
from core.observability import count_job_state
from core.settings import PROJECT_ROOT, Settings
from core.toolchain import built_jar
from domain.fraud.monitor import (
    CancelJob,
    CepJobSpec,
    JobHandle,
    JobProgress,
    StopJob,
    SubmitCepJob,
    WatchJob,
)
from workflows.fraud import activities as declared
from workflows.fraud.activities import CEP_JOB_REJECTED, JOB_NOT_RUNNING

CEP_JOB = PROJECT_ROOT / "jobs" / "flink" / "fraud_cep.py"
FUSED_JOB = PROJECT_ROOT / "jobs" / "flink" / "fused_detector.py"
FUSED_DETECTOR = PROJECT_ROOT / "jobs" / "flink" / "fused-detector"
# the exception of a restart that found no free slot (no TaskManager yet): not the job's fault
WAITING_FOR_SLOTS = "NoResourceAvailableException"


def cep_job_arguments(settings: Settings, spec: CepJobSpec) -> list[str]:
    """jobs/flink/fraud_cep.py's command line for the spec: `--field value` for every field
    that has one (thresholds included), `--bounded` when bounded."""
    values = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        **spec.model_dump(exclude={"engine", "thresholds", "bounded"}, exclude_none=True),
        **spec.thresholds.model_dump(),
    }
    arguments = [
        part
        for name, value in values.items()
        for part in (f"--{name.replace('_', '-')}", str(value))
    ]
    return [*arguments, "--bounded"] if spec.bounded else arguments


def submit_cep_job(settings: Settings, spec: CepJobSpec, savepoint: str | None = None) -> str:
    """Submit the spec's job to the session cluster (blocking); returns its Flink job id."""
    if spec.engine == "sql":
        return submit_python_job(settings, CEP_JOB, cep_job_arguments(settings, spec), savepoint)
    # the rules topic must be there when the job starts: its source does not look for it later
    ensure_topics(
        settings,
        {spec.rules_topic: 1, spec.rules_applied_topic: 1},
        compacted=frozenset({spec.rules_topic}),
    )
    jar = built_jar(settings, FUSED_DETECTOR)  # Maven builds it on first use
    arguments = [*cep_job_arguments(settings, spec), "--detector-jar", str(jar)]
    return submit_python_job(settings, FUSED_JOB, arguments, savepoint)


class FlinkJobActivities:
    def __init__(self, settings: Settings):
        self.settings = settings

    @implements(declared.submit_job)
    async def submit_job(self, request: SubmitCepJob) -> JobHandle:
        """Submit the job, unless one of the same (deterministic) name already runs: then attach.

        That makes a retried or duplicated submission harmless."""
        name = request.spec.job_name
        rest = FlinkRest(self.settings)
        running = await asyncio.to_thread(rest.running_job_named, name)
        if running is not None:
            activity.logger.info("attaching to running Flink job %s", running["jid"])
            return JobHandle(job_id=running["jid"], job_name=name, attached=True)
        try:
            job_id = await asyncio.to_thread(
                submit_cep_job, self.settings, request.spec, request.savepoint
            )
        except FlinkSubmitError as error:
            # the cluster answered a moment ago: it refused the job itself, and would again
            raise ApplicationError(
                f"Flink refused the CEP job {name}: {error}",
                type=CEP_JOB_REJECTED,
                non_retryable=True,
            ) from error
        activity.logger.info("submitted Flink job %s as %s", name, job_id)
        return JobHandle(job_id=job_id, job_name=name, attached=False)

    @implements(declared.watch_job)
    async def watch_job(self, request: WatchJob) -> JobProgress:
        """Heartbeat the job's progress until it ends, its state changes (RUNNING <->
        RECOVERING) or Flink restarted it (both `changed`), or the watch period is over; or
        report RESTARTING, with the job's last exception, once Flink has restarted the job
        `report_after_restarts` times (a job that keeps failing), unless those restarts only
        waited for a TaskManager's slots."""
        rest = FlinkRest(self.settings)
        deadline = time.monotonic() + request.watch_period.total_seconds()
        last_state: str | None = request.reported_state
        last_restarts: int | None = None
        counted_from = request.restarts_counted_from
        while True:
            progress = await asyncio.to_thread(self._progress, rest, request.job_id)
            if counted_from is None:
                counted_from = progress.flink_restarts
            progress.restarts_counted_from = counted_from
            activity.heartbeat(progress.model_dump(mode="json"))
            if progress.state != last_state:
                count_job_state("flink", progress.state)
            if progress.flink_restarts - counted_from >= request.report_after_restarts:
                exception = await asyncio.to_thread(rest.last_exception, request.job_id)
                if WAITING_FOR_SLOTS in (exception or ""):
                    # a TaskManager lost: Flink restarts the job until one offers slots again,
                    # then restores it from its checkpoint, state and all; a resubmission
                    # would start from the committed offsets without the cards' state
                    counted_from = progress.flink_restarts
                else:
                    count_job_state("flink", "RESTARTING")
                    return progress.model_copy(
                        update={"state": "RESTARTING", "last_exception": exception}
                    )
            if progress.state in TERMINAL_STATES or time.monotonic() > deadline:
                return progress
            if last_state is not None and progress.state != last_state:
                interrupted = progress.state == "RECOVERING"
                return progress.model_copy(update={"changed": True, "interrupted": interrupted})
            if last_restarts is not None and progress.flink_restarts > last_restarts:
                # restarted and running again between two polls: an interruption all the same
                detail = f"Flink restarted the job (restart {progress.flink_restarts})"
                return progress.model_copy(
                    update={"changed": True, "interrupted": True, "detail": detail}
                )
            last_state, last_restarts = progress.state, progress.flink_restarts
            await asyncio.sleep(request.poll_interval.total_seconds())

    @staticmethod
    def _progress(rest: FlinkRest, job_id: str) -> JobProgress:
        job = rest.job(job_id)
        vertices = job.get("vertices", [])
        checkpoints = rest.checkpoints(job_id) if job["state"] == "RUNNING" else {}
        latest = (checkpoints.get("latest") or {}).get("completed") or {}
        state, detail = job["state"], None
        working = sum(v.get("status") in ("RUNNING", "FINISHED") for v in vertices)
        if state not in TERMINAL_STATES and (state != "RUNNING" or working < len(vertices)):
            # RESTARTING, CREATED, INITIALIZING..., or tasks waiting to be deployed
            taskmanagers = rest.taskmanagers()
            detail = f"Flink job {state}, {working} of {len(vertices)} tasks running" + (
                "; no TaskManager is registered" if taskmanagers == 0 else ""
            )
            state = "RECOVERING"
        return JobProgress(
            job_id=job_id,
            state=state,
            detail=detail,
            checkpoints=(checkpoints.get("counts") or {}).get("completed", 0),
            last_checkpoint=latest.get("external_path"),
            records_in=sum(v.get("metrics", {}).get("read-records", 0) for v in vertices[:1]),
            records_out=sum(v.get("metrics", {}).get("write-records", 0) for v in vertices[-1:]),
            flink_restarts=rest.restarts(job_id),
        )

    @implements(declared.stop_with_savepoint)
    async def stop_with_savepoint(self, request: StopJob) -> str:
        """Stop the job with a savepoint; returns its location. A retry after the job stopped
        finds the savepoint it took; a job that failed or was cancelled has none to take
        (JobNotRunning, final)."""
        rest = FlinkRest(self.settings)
        job = await asyncio.to_thread(rest.job, request.job_id)
        if job["state"] in TERMINAL_STATES:
            latest = (await asyncio.to_thread(rest.checkpoints, request.job_id)).get("latest")
            savepoint = (latest or {}).get("savepoint") or {}
            if job["state"] == "FINISHED" and savepoint.get("external_path"):
                return str(savepoint["external_path"])
            raise ApplicationError(
                f"Flink job {request.job_id} is {job['state']}: it has no savepoint to take",
                type=JOB_NOT_RUNNING,
                non_retryable=True,
            )
        trigger = await asyncio.to_thread(rest.stop_with_savepoint, request.job_id)
        while True:
            status = await asyncio.to_thread(rest.savepoint_status, request.job_id, trigger)
            activity.heartbeat(status["status"]["id"])
            if status["status"]["id"] == "COMPLETED":
                operation = status["operation"]
                if "failure-cause" in operation:
                    raise RuntimeError(f"savepoint failed: {operation['failure-cause']}")
                return operation["location"]
            await asyncio.sleep(0.5)

    @implements(declared.cancel_job)
    async def cancel_job(self, request: CancelJob) -> str:
        """Cancel the job of that id and any job running under that name; returns the state of
        the last one (CANCELED, or the terminal state it had already reached)."""
        rest = FlinkRest(self.settings)
        job_ids = [request.job_id] if request.job_id else []
        running = await asyncio.to_thread(rest.running_jobs_named, request.job_name)
        job_ids += [job["jid"] for job in running if job["jid"] not in job_ids]
        state = "CANCELED"
        for job_id in job_ids:
            state = await self._cancel(rest, job_id)
        return state

    @staticmethod
    async def _cancel(rest: FlinkRest, job_id: str) -> str:
        state = (await asyncio.to_thread(rest.job, job_id))["state"]
        if state in TERMINAL_STATES:
            return state
        await asyncio.to_thread(rest.cancel, job_id)
        for _ in range(60):
            state = (await asyncio.to_thread(rest.job, job_id))["state"]
            if state in TERMINAL_STATES:
                return state
            activity.heartbeat(state)
            await asyncio.sleep(1)
        raise RuntimeError(f"Flink job {job_id} still {state} 60 s after cancel")
