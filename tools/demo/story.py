"""The end-to-end story, on whatever services the settings point at (the local stack or compose).

1. seed stock and customers; create the topics
2. the fraud monitor runs the Flink CEP job; the alert router feeds alerts to PostgreSQL and
   to the sagas of the card
3. a live stream of card transactions with injected fraud flows into Kafka while
4. a batch of orders runs through the saga: most complete; a declined card is compensated; a
   large order is approved by a reviewer through an Update; another is cancelled through an
   Update; orders on cards under attack are aborted by the fraud alert signal while they wait
   for review, and a later order on such a card is blocked at the fraud screen
5. once the detector has caught up with the stream, it is scored against the ground truth
6. the feature pipeline runs once: Spark ETL, Ray training, promotion
7. new orders are scored by the champion: a burst across countries on one card goes to review
8. a summary, and the invariant check over every order of the run

Every run has its own ids (orders, cards, stream), so a second run needs no clean-up.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime

from temporalio.client import WorkflowQueryFailedError
from temporalio.service import RPCError

from client.fraud import start_fraud_workflows
from client.pipeline import start_pipeline
from client.progress import last_reported_line
from core.db.connections import connect
from core.kafka import ensure_topics
from core.settings import Settings
from core.temporal import connect as connect_temporal
from domain.fraud.evaluation import Evaluation, evaluate
from domain.fraud.events import FraudLabel, FraudPattern, Transaction
from domain.fraud.generator import (
    StreamProgress,
    StreamStats,
    card_testing_attack,
    produce,
    store_labels,
)
from domain.fraud.monitor import MonitorView
from domain.orders.invariants import check_order_invariants
from domain.pipeline.models import PipelineRequest, PipelineResult, TrainingSettings
from tools.demo.orders import OrderScenes, Say
from tools.demo.report import DemoConfig, DemoReport, DemoStalled
from tools.seed import seed
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

# the pipeline's child workflow (its id's suffix) whose engine job runs during a stage
CHILD_OF_STAGE = {"ETL": "etl", "TRAINING": "training"}
# no new alert for this long, with the CEP job running: the detector has caught up
DETECTOR_QUIET_S = 12


class Demo:
    def __init__(self, settings: Settings, config: DemoConfig, say: Say):
        self.settings = settings
        self.config = config
        self.say = say
        self.run_id = f"demo{time.strftime('%m%d%H%M%S')}{uuid.uuid4().hex[:3]}"
        self.report = DemoReport(self.run_id)
        # transactions the demo adds to the live stream (the attacks on its cards)
        self.injections: queue.Queue[Callable[[datetime], list[Transaction]]] = queue.Queue()
        self.live = threading.Event()  # the stream's history is sent, its live part begins

    async def run(self) -> DemoReport:
        settings, config = self.settings, self.config
        self.client = await connect_temporal(settings)
        scenes = OrderScenes(self.client, settings, config, self.report, self.say)
        self.phase(
            "seed and topics",
            f"[1/8] seeding stock and customers, creating topics (run {self.run_id})",
        )
        await asyncio.to_thread(seed, settings.postgres_dsn)
        await asyncio.to_thread(ensure_topics, settings)

        self.phase(
            "fraud monitor",
            f"[2/8] fraud monitor: Flink CEP job `{config.job_name}` and the alert router",
        )
        await start_fraud_workflows(settings, config.job_name)
        await self.wait_for_cep_job()

        self.phase(
            "stream start",
            f"[3/8] {config.history_days:g} days of past traffic "
            f"({config.history_days * config.history_per_day:,.0f} charges, breached merchants"
            f" among them) sent at once, then a live stream: {config.stream_rate:g} "
            f"transactions/s for {config.stream_seconds:g} s, {config.fraud_share:.0%} injected"
            f" fraud, run {self.run_id}",
        )
        stream = asyncio.create_task(asyncio.to_thread(self.produce_stream))
        await asyncio.to_thread(self.live.wait)  # the history is sent (or the stream failed)
        if stream.done():
            stream.result()  # the stream failed before its live part: its error
        streaming_since = time.monotonic()
        await asyncio.sleep(3)  # the stream is flowing when the orders arrive

        self.phase("orders", "[4/8] orders through the saga")
        await scenes.batch(lambda cards: asyncio.to_thread(self.attack, cards))

        remaining = max(0.0, config.stream_seconds - (time.monotonic() - streaming_since))
        self.phase(
            "stream end, detector scored",
            f"[5/8] the stream's traffic ends in about {remaining:.0f} s, then it runs until its "
            "last injected scenarios are complete; then the detector is scored",
        )
        self.report.stream = sent = await stream
        self.say(
            f"      {sent.events} transactions, {sent.malformed} malformed messages and "
            f"{len(sent.labels)} fraud scenarios sent in {sent.seconds:.0f} s; "
            f"{sent.merchant_breaches} merchants breached, {sent.breached_charges} charges there"
            " labelled merchant_compromise (for the model: no card pattern shows them)"
        )
        self.report.evaluation = await self.score_detector()

        self.phase(
            "feature pipeline", "[6/8] feature pipeline: Spark ETL -> Ray training -> promotion"
        )
        self.report.pipeline = await self.run_pipeline()
        self.report.models = await asyncio.to_thread(self.model_versions)

        self.phase("champion scores", "[7/8] orders scored by the champion")
        await scenes.scored()

        self.phase("invariants", "[8/8] invariant check")
        order_ids = [result.order_id for result in self.report.results]
        self.report.violations = await asyncio.to_thread(
            check_order_invariants, settings.postgres_dsn, order_ids
        )
        self.phase(None)
        return self.report

    def phase(self, name: str | None, title: str = "") -> None:
        """Say the next phase (None: the end), and record how long the previous one took."""
        now = time.monotonic()
        if self.report.phases:
            previous, began = self.report.phases[-1]
            self.report.phases[-1] = (previous, now - began)
        if name is not None:
            self.say(title)
            self.report.phases.append((name, now))

    # --- the fraud monitor and the stream -------------------------------------------------------

    async def wait_for_cep_job(self) -> None:
        handle = self.client.get_workflow_handle(f"fraud-monitor-{self.config.job_name}")
        deadline = time.monotonic() + 300
        last, report_at = "", 0.0
        while time.monotonic() < deadline:
            view: MonitorView = await handle.query(FraudMonitorWorkflow.state)
            if view.state != last or time.monotonic() >= report_at:
                waited = time.monotonic() - (deadline - 300)
                self.say(
                    f"      {waited:4.0f} s  Flink job {view.job_id or '(submitting)'}: "
                    f"{view.state}"
                )
                last, report_at = view.state, time.monotonic() + 10
            if view.state == "RUNNING":
                return
            await asyncio.sleep(2)
        raise DemoStalled(
            f"the Flink CEP job did not reach RUNNING in 300 s (last state {last})",
            f"see the Flink UI at {self.settings.flink_ui_url} and the flink-* logs in"
            f" {self.settings.stack_dir / 'logs'}",
        )

    async def score_detector(self) -> Evaluation:
        """Score the detector once it has caught up with the stream: every scenario found, or
        no new alert for DETECTOR_QUIET_S while its job runs. A job that is not running (a
        TaskManager lost) is waited for, up to config.catch_up_s; then it is scored anyway,
        and the reason is said."""
        monitor = self.client.get_workflow_handle(f"fraud-monitor-{self.config.job_name}")
        # the history was sent at once, before the live part: the detector is scored on the
        # live part (a job already running drops the history as late)
        live_start = self.report.stream.live_start if self.report.stream else None
        began = time.monotonic()
        quiet_since, seen = began, (-1, -1)
        while True:
            evaluation = await asyncio.to_thread(
                evaluate, self.settings.postgres_dsn, self.run_id, live_start
            )
            view: MonitorView = await monitor.query(FraudMonitorWorkflow.state)
            overall, now = evaluation.overall, time.monotonic()
            if (overall.detected, overall.alerts) != seen:
                seen, quiet_since = (overall.detected, overall.alerts), now
                self.say(
                    f"      {now - began:4.0f} s  {overall.detected} of {overall.labels} "
                    f"scenarios detected, {overall.alerts} alerts; Flink job {view.state}"
                )
            if overall.detected == overall.labels:
                return evaluation
            if view.state == "RUNNING" and now - quiet_since > DETECTOR_QUIET_S:
                return evaluation
            if now - began > self.config.catch_up_s:
                why = (view.progress.detail if view.progress else None) or view.last_interruption
                self.say(
                    f"      the detector did not catch up in {self.config.catch_up_s:g} s: its "
                    f"Flink job is {view.state}" + (f" ({why})" if why else "")
                )
                return evaluation
            await asyncio.sleep(3)

    def produce_stream(self) -> StreamStats:
        config = self.config
        try:
            return produce(
                self.settings,
                self.settings.transactions_topic,
                run_id=self.run_id,
                seed=config.seed,
                rate=config.stream_rate,
                duration_s=config.stream_seconds,
                fraud_share=config.fraud_share,
                realtime=True,
                history_days=config.history_days,
                history_per_day=config.history_per_day,
                inject=self.injections,
                live=self.live,
                progress=self.stream_progress,
            )
        finally:
            self.live.set()  # whoever waits for the live part is not left waiting

    def stream_progress(self, progress: StreamProgress) -> None:
        self.say(
            f"      {progress.events} transactions sent (event time "
            f"{progress.event_time:%Y-%m-%d %H:%M:%S}); scenarios: {progress.scenarios_complete} "
            f"complete, {progress.scenarios_open} still running"
        )

    def attack(self, cards: list[str]) -> None:
        """Card testing on each card: tiny charges, then a large one, joined into the live
        stream and labelled like the stream's own scenarios so that the evaluation counts them."""
        labels: list[FraudLabel] = []
        built = threading.Event()

        def build(start: datetime) -> list[Transaction]:
            charges = []
            for index, card in enumerate(cards):
                attack = card_testing_attack(card, f"cust-{self.run_id}-attacked-{index}", start)
                charges += attack
                labels.append(
                    FraudLabel(
                        scenario_id=f"s-{card}",
                        pattern=FraudPattern.CARD_TESTING,
                        card_id=card,
                        txn_ids=[t.txn_id for t in attack],
                        first_event_time=attack[0].event_time,
                        last_event_time=attack[-1].event_time,
                    )
                )
            built.set()
            return charges

        self.injections.put(build)
        if not built.wait(30):
            raise DemoStalled(
                "the stream ended before the attack could join it",
                "lengthen the stream (--stream-seconds)",
            )
        store_labels(self.settings.postgres_dsn, self.run_id, labels)

    # --- the pipeline and the champion ----------------------------------------------------------

    async def run_pipeline(self) -> PipelineResult:
        request = PipelineRequest(
            topic=self.settings.transactions_topic,
            model_name=self.settings.fraud_model_name,
            promotion_margin=self.config.promotion_margin,
            training=TrainingSettings(trials=self.config.trials),
        )
        handle = await start_pipeline(self.settings, request)
        self.say(f"      {handle.id}: follow it in {self.settings.temporal_ui_url}")
        waiting = asyncio.create_task(handle.result())
        stage, began = "", time.monotonic()
        reported, report_at = "", 0.0
        while not waiting.done():
            try:
                now = await handle.query(FeaturePipelineWorkflow.stage)
            except (RPCError, WorkflowQueryFailedError):  # it ended between check and query
                now = stage
            if now != stage:
                self.say(f"      {time.monotonic() - began:5.0f} s  {now}")
                stage = now
            child = CHILD_OF_STAGE.get(stage)
            if child is not None and time.monotonic() >= report_at:
                line = await last_reported_line(self.client, f"{handle.id}-{child}")
                if line and line != reported:
                    self.say(f"      {time.monotonic() - began:5.0f} s    {line}")
                    reported, report_at = line, time.monotonic() + 5
            await asyncio.wait([waiting], timeout=3)
        result: PipelineResult = waiting.result()
        evaluation = result.training.evaluation
        judged = (
            f"test AP {evaluation.models['candidate'].average_precision:.3f}"
            f" (beats both baselines: {'yes' if evaluation.beats_baselines else 'no'})"
            if evaluation is not None
            else f"holdout PR-AUC {result.training.metrics.pr_auc:.3f}"
        )
        self.say(
            f"      {result.decision.value}: {result.training.version_id} {judged}, champion "
            f"{result.champion} ({result.reason})"
        )
        return result

    def model_versions(self) -> list[tuple[str, float, float, str]]:
        with connect(self.settings.postgres_dsn) as conn:
            return conn.execute(
                "select v.version_id, (v.metrics->>'pr_auc')::float8,"
                " (v.metrics->>'precision_at_budget')::float8,"
                " coalesce(string_agg(a.alias, ',' order by a.alias), '')"
                " from model_versions v left join model_aliases a using (version_id)"
                " where v.model_name = %s and a.alias is not null"
                " group by v.version_id order by max(v.created_at)",
                (self.settings.fraud_model_name,),
            ).fetchall()


async def run_demo(settings: Settings, config: DemoConfig, say: Say) -> DemoReport:
    return await Demo(settings, config, say).run()
