"""docs/running-workflows.md, run as a reader runs it: every command of its shell blocks, in page
order, on a stack that has already served the demo and the other tests, each checked against
what the page says it does. A command without a stated result here, a stated result whose
command left the page, or a section that is neither walked nor skipped for a stated reason
fails the test.

Only what keeps the walk apart from the rest of the session changes: the ids the page names
(workflows, runs, the schedule, the scratch job) get a suffix, in the commands and in copies of
docs/examples/, and the task queues are the session's."""

from __future__ import annotations

import functools
import os
import re
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from core.engines.flink import FlinkRest
from core.settings import PROJECT_ROOT, Settings
from core.toolchain import postgres_bin_dir, venv_tool
from tests.support.docs_walk import Ran, bash_blocks, commands, holds

pytestmark = pytest.mark.usefixtures("seeded", "worker")

PAGE = PROJECT_ROOT / "docs" / "running-workflows.md"
# sections whose commands the walk does not run, and why
SKIPPED_SECTIONS = {
    "Commands that work for every workflow": "placeholders (`<id>`); the sections below run them",
    "FeaturePipelineWorkflow": "a whole pipeline run; tests/integration/test_feature_pipeline.py"
    " runs this workflow, and the ETL and training sections below run its two children",
    "Register the search attributes": "needs a server of one's own: `stack up` registers them",
    "Caveats found in the code": "placeholders for a Temporal Cloud namespace and key;"
    " tests/integration/test_temporal_tls.py connects over TLS and mTLS the same way",
}
# single commands the walk does not run, and why
SKIPPED_COMMANDS = {
    "./hybrid stack up --worker": "the test session brought the stack up",
    "$T workflow start --type FraudMonitorWorkflow --task-queue fraud --workflow-id "
    'fraud-monitor-fraud-cep --id-conflict-policy UseExisting --input \'{"job_name": '
    '"fraud-cep"}\'': "the stack's own monitor; the walk runs the scratch monitor below",
    "./hybrid pipeline schedule trigger": "starts a whole pipeline run (see above)",
    "$T schedule trigger --schedule-id nightly-feature-pipeline": "the same",
}
# the ids the page names, each given the walk's suffix
IDS = (
    "smoke-1",
    "noop-1",
    "ord-1234",
    "fraud-monitor-fraud-cep-scratch",
    "fraud-cep-scratch",
    "alert-router-fraud-alerts",
    "etl-manual-001",
    "training-card-fraud-manual-001",
    "card-fraud-manual-001",
    "card-fraud-manual",
    "nightly-feature-pipeline",
)


def ok(ran: Ran) -> bool:
    return ran.returncode == 0


def says(*texts: str) -> Callable[[Ran], bool]:
    return lambda ran: ran.returncode == 0 and all(text in ran.output for text in texts)


def result_field(label: str, path: str, expected: object) -> Callable[[Ran], bool]:
    def check(ran: Ran) -> bool:
        value = ran.json_after(label)
        for part in path.split("."):
            if not isinstance(value, dict):
                return False
            value = value.get(part)
        return value == expected if not callable(expected) else bool(expected(value))

    return check


# what the page says of each command (as the page writes it), checked on its output
STATED: dict[str, Callable[[Ran], bool]] = {
    "./hybrid seed": says("seeded inventory and customers"),
    "T=.venv/bin/temporal": ok,
    "$T workflow list --query 'OrderStatus=\"COMPENSATING\"'": ok,
    '$T workflow list --query \'CustomerId="cust-alice" AND FraudDecision="REVIEW"\'': ok,
    # exits 1 when anything is wrong, on whatever orders the stack holds: it must report
    "./hybrid orders check": lambda ran: "violation(s)" in ran.output and "stuck" in ran.output,
    "./hybrid orders repair ord-1234": lambda ran: "cannot be repaired" in ran.output,
    "$T workflow execute --type SmokeWorkflow --task-queue orders --workflow-id smoke-1 "
    '--input \'{"message": "hello"}\'': result_field("Result", "echo", "hello"),
    "$T workflow execute --type NoopSagaWorkflow --task-queue orders --workflow-id noop-1 "
    "--input 8": lambda ran: ran.returncode == 0 and ran.json_after("Result") == 8,
    "$T workflow start --type FraudMonitorWorkflow --task-queue fraud --workflow-id "
    "fraud-monitor-fraud-cep-scratch --input-file docs/examples/fraud_monitor.json": ok,
    "$T workflow query -w fraud-monitor-fraud-cep-scratch --name state": result_field(
        "QueryResult", "state", "RUNNING"
    ),
    "$T workflow update execute -w fraud-monitor-fraud-cep-scratch --name update_thresholds "
    "--input-file docs/examples/thresholds.json": says("velocity_count", "rule_version", "RUNNING"),
    "$T workflow update execute -w fraud-monitor-fraud-cep-scratch --name upgrade_job "
    "--input-file docs/examples/upgrade.json": says("rule_version", "RUNNING"),
    "$T workflow list --query 'WorkflowId=\"fraud-monitor-fraud-cep-scratch\"'": says(
        "FraudMonitorWorkflow"
    ),
    "$T workflow cancel -w fraud-monitor-fraud-cep-scratch": ok,
    "$T workflow start --type AlertRouterWorkflow --task-queue fraud --workflow-id "
    "alert-router-fraud-alerts --id-conflict-policy UseExisting --input "
    "'\"alert-router-fraud-alerts\"'": ok,
    "$T workflow describe -w alert-router-fraud-alerts": says("route_alerts"),
    "./hybrid stream generate --rate 40 --duration 300 --fraud-share 0.03 --no-realtime "
    '--run-id "docs-$(date +%s)"': ok,
    "$T workflow execute --type FeatureEtlWorkflow --task-queue pipeline --workflow-id "
    "etl-manual-001 --input-file docs/examples/etl_run.json": result_field(
        "Result", "rows", lambda rows: isinstance(rows, int) and rows > 0
    ),
    'psql postgresql://hybrid:hybrid@localhost:55432/hybrid -c "select run_id, rows_written '
    "from etl_runs where topic = 'transactions' and status = 'SUCCEEDED' and rows_written > 0 "
    'order by planned_at"': says("etl-manual-001"),
    "$T workflow execute --type ModelTrainingWorkflow --task-queue pipeline --workflow-id "
    "training-card-fraud-manual-001 --input-file docs/examples/training.json": result_field(
        "Result", "metrics.pr_auc", lambda auc: isinstance(auc, float) and auc > 0.5
    ),
    "./hybrid pipeline schedule create": ok,
    "./hybrid pipeline schedule show": says("nightly-feature-pipeline"),
    "./hybrid pipeline schedule pause": ok,
    "./hybrid pipeline schedule unpause": ok,
    "./hybrid pipeline schedule delete": ok,
    "$T schedule describe --schedule-id nightly-feature-pipeline": says("FeaturePipelineWorkflow"),
    '$T schedule toggle --schedule-id nightly-feature-pipeline --pause --reason "maintenance"': ok,
    '$T schedule toggle --schedule-id nightly-feature-pipeline --unpause --reason "done"': ok,
    "$T schedule list": says("nightly-feature-pipeline"),
    "$T schedule delete --schedule-id nightly-feature-pipeline": ok,
    "$T schedule create --schedule-id nightly-feature-pipeline --cron '0 2 * * *' "
    "--overlap-policy Skip --catchup-window 1h --workflow-id nightly-feature-pipeline "
    "--task-queue pipeline --type FeaturePipelineWorkflow --input-file "
    "docs/examples/pipeline.json": ok,
}
# read-only commands a reader may run again until the workflow has caught up; the others run once
REPEATABLE = ("$T workflow query", "$T workflow list", "$T workflow describe")


class Walk:
    def __init__(self, settings: Settings, scratch: Path):
        self.settings, self.scratch = settings, scratch
        suffix = uuid.uuid4().hex[:8]
        ids = "|".join(sorted(map(re.escape, IDS), key=len, reverse=True))
        self.rename = lambda text: re.sub(rf"(?<![\w-])({ids})(?![\w-])", rf"\1-{suffix}", text)
        for example in (PROJECT_ROOT / "docs" / "examples").glob("*.json"):
            (scratch / example.name).write_text(self.rename(example.read_text()))
        queues = {
            "orders": settings.order_task_queue,
            "fraud": settings.fraud_task_queue,
            "pipeline": settings.pipeline_task_queue,
        }
        self.queues = queues
        self.environment = {
            **os.environ,
            "HYBRID_ORDER_TASK_QUEUE": queues["orders"],
            "HYBRID_FRAUD_TASK_QUEUE": queues["fraud"],
            "HYBRID_PIPELINE_TASK_QUEUE": queues["pipeline"],
            "HYBRID_PIPELINE_SCHEDULE_ID": self.rename("nightly-feature-pipeline"),
            "HYBRID_METRICS_BIND_ADDRESS": "",
            "PATH": f"{postgres_bin_dir('psql')}{os.pathsep}{os.environ['PATH']}",
        }

    def shell_line(self, command: str) -> str:
        line = self.rename(command).replace("docs/examples/", f"{self.scratch}/")
        for name, queue in self.queues.items():
            line = line.replace(f"--task-queue {name}", f"--task-queue {queue}")
        if line.startswith("$T "):  # the CLI binary, at the session's server
            line = f"{venv_tool('temporal')} {line[3:]} --address {self.settings.temporal_address}"
        return line

    def run(self, command: str) -> Ran:
        done = subprocess.run(
            ["bash", "-c", self.shell_line(command)],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=PROJECT_ROOT,
            env=self.environment,
        )
        return Ran(done.returncode, done.stdout + done.stderr)


def test_the_running_workflows_page_does_what_it_says(settings: Settings, tmp_path: Path) -> None:
    walk = Walk(settings, tmp_path)
    walked: list[str] = []
    sections = {heading for heading, _ in bash_blocks(PAGE.read_text())}
    try:
        for heading, block in bash_blocks(PAGE.read_text()):
            if heading in SKIPPED_SECTIONS:
                continue
            for command in commands(block):
                if command in SKIPPED_COMMANDS:
                    continue
                stated = STATED.get(command)
                assert stated is not None, (
                    f"the page states a result this test does not check ({heading}): {command}"
                )
                ran = (
                    holds(stated, functools.partial(walk.run, command))
                    if command.startswith(REPEATABLE)
                    else walk.run(command)
                )
                assert stated(ran), f"{command}\n{ran.output}"
                walked.append(command)
    finally:  # what the walk started must not outlive it
        for leftover in (
            "$T workflow cancel -w alert-router-fraud-alerts",
            "$T workflow cancel -w fraud-monitor-fraud-cep-scratch",
            "$T schedule delete --schedule-id nightly-feature-pipeline",
        ):
            walk.run(leftover)
    assert set(walked) == set(STATED), "a stated result whose command left the page"
    assert set(SKIPPED_SECTIONS) <= sections, "a skipped section left the page"
    # the scratch monitor's cancellation cancelled its Flink job
    scratch_job = walk.rename("fraud-cep-scratch")
    holds(
        lambda ran: ran.returncode == 0,
        lambda: Ran(0 if not FlinkRest(settings).running_jobs_named(scratch_job) else 1, ""),
    )
