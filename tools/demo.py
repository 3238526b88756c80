"""The end-to-end story, on whatever services the settings point at (the local stack or compose).

1. seed stock and customers; create the topics
2. the fraud monitor runs the Flink CEP job; the alert router feeds alerts to PostgreSQL and
   to the sagas of the card
3. a live stream of card transactions with injected fraud flows into Kafka while
4. a batch of orders runs through the saga: most complete; a declined card is compensated; a
   large order is approved by a reviewer through an Update; another is cancelled through an
   Update; orders on cards under attack are aborted by the fraud alert signal while they wait
   for review, and a later order on such a card is blocked at the fraud screen
5. the detector is scored against the stream's ground truth
6. the feature pipeline runs once: Spark ETL, Ray training, promotion
7. new orders are scored by the champion: a burst across countries on one card goes to review
8. a summary, and the invariant check over every order of the run

Every run has its own ids (orders, cards, stream), so a second run needs no clean-up.
"""

from __future__ import annotations

import asyncio
import queue
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import BaseModel, Field
from temporalio.client import WorkflowHandle, WorkflowQueryFailedError
from temporalio.service import RPCError

from client.fraud import start_fraud_workflows
from client.pipeline import start_pipeline
from core.db.connections import connect
from core.settings import Settings
from core.temporal import connect
from domain.fraud.evaluation import Evaluation, evaluate
from domain.fraud.events import FraudLabel, FraudPattern, Transaction
from domain.fraud.generator import StreamStats, card_testing_attack, produce, store_labels
from domain.fraud.monitor import MonitorView
from domain.orders.invariants import check_order_invariants
from domain.orders.models import (
    CancelRequest,
    ClientContext,
    OrderItem,
    OrderRequest,
    OrderResult,
    OrderStatus,
    PaymentMethod,
    ReviewDecision,
    ReviewVerdict,
    ShippingAddress,
)
from domain.pipeline.models import PipelineRequest, PipelineResult, TrainingSettings
from core.kafka import ensure_topics
from tools.seed import CUSTOMERS, INVENTORY, seed
from workflows.fraud.fraud_monitor import FraudMonitorWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow
from workflows.pipeline.feature_pipeline import FeaturePipelineWorkflow

Say = Callable[[str], None]

# the everyday catalogue: items whose price keeps ordinary orders clear of the review rules
EVERYDAY_SKUS = ["SKU-HEADPHONES", "SKU-CHARGER-65W", "SKU-CABLE-USBC", "SKU-KEYBOARD"]
PRICES = {sku: price for sku, _, price, _, _ in INVENTORY}
HOME_CITIES = {"FR": "Paris", "US": "Boston", "SG": "Singapore", "IE": "Dublin", "DE": "Berlin"}
BURST_COUNTRIES = ["DE", "IT", "ES", "PT", "BE", "NL", "AT", "PL"]


class DemoConfig(BaseModel):
    orders: int = Field(default=16, ge=1, description="ordinary orders in the batch")
    attacked_cards: int = Field(default=3, ge=1, description="cards under attack during it")
    stream_rate: float = Field(default=200, gt=0, description="transactions per second")
    stream_seconds: float = Field(default=90, gt=0, description="length of the live stream")
    fraud_share: float = Field(default=0.02, ge=0, le=1, description="scenarios per event")
    seed: int = 7
    trials: int = Field(default=4, ge=1, description="hyperparameter candidates in training")
    promotion_margin: float = 0.005
    job_name: str = "fraud-cep"
    alert_timeout_s: float = Field(default=120, gt=0)


@dataclass
class ScoredOrder:
    order_id: str
    label: str
    status: OrderStatus
    model_version: str | None
    model_score: float | None


@dataclass
class DemoReport:
    run_id: str
    results: list[OrderResult] = field(default_factory=list)
    stream: StreamStats | None = None
    evaluation: Evaluation | None = None
    pipeline: PipelineResult | None = None
    models: list[tuple[str, float, float, str]] = field(default_factory=list)
    scored: list[ScoredOrder] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter[str]:
        return Counter(result.status.value for result in self.results)

    @property
    def compensations(self) -> Counter[str]:
        return Counter(c.compensation for result in self.results for c in result.compensations)


class Demo:
    def __init__(self, settings: Settings, config: DemoConfig, say: Say):
        self.settings = settings
        self.config = config
        self.say = say
        self.run_id = f"demo{time.strftime('%m%d%H%M%S')}{uuid.uuid4().hex[:3]}"
        self.report = DemoReport(self.run_id)
        self.rng = random.Random(config.seed)
        # transactions the demo adds to the live stream (the attacks on its cards)
        self.injections: queue.Queue[Callable[[datetime], list[Transaction]]] = queue.Queue()

    async def run(self) -> DemoReport:
        settings, config = self.settings, self.config
        self.client = await connect(settings)
        self.say(f"[1/8] seeding stock and customers, creating topics (run {self.run_id})")
        await asyncio.to_thread(seed, settings.postgres_dsn)
        await asyncio.to_thread(ensure_topics, settings)

        self.say(f"[2/8] fraud monitor: Flink CEP job `{config.job_name}` and the alert router")
        await start_fraud_workflows(settings, config.job_name)
        await self.wait_for_cep_job()

        self.say(
            f"[3/8] live stream: {config.stream_rate:g} transactions/s for "
            f"{config.stream_seconds:g} s, {config.fraud_share:.0%} injected fraud, run "
            f"{self.run_id}"
        )
        stream = asyncio.create_task(asyncio.to_thread(self.produce_stream))
        streaming_since = time.monotonic()
        await asyncio.sleep(3)  # the stream is flowing when the orders arrive

        self.say("[4/8] orders through the saga")
        await self.order_batch()

        remaining = max(0.0, config.stream_seconds - (time.monotonic() - streaming_since))
        self.say(
            f"[5/8] the stream's traffic ends in about {remaining:.0f} s, then it runs until its "
            "last injected scenarios are complete; then the detector is scored"
        )
        self.report.stream = sent = await stream
        self.say(
            f"      {sent.events} transactions, {sent.malformed} malformed messages and "
            f"{len(sent.labels)} fraud scenarios sent in {sent.seconds:.0f} s"
        )
        await asyncio.sleep(5)  # the last matches travel through Flink and the router
        self.report.evaluation = await asyncio.to_thread(
            evaluate, settings.postgres_dsn, self.run_id
        )

        self.say("[6/8] feature pipeline: Spark ETL -> Ray training -> promotion")
        self.report.pipeline = await self.run_pipeline()
        self.report.models = await asyncio.to_thread(self.model_versions)

        self.say("[7/8] orders scored by the champion")
        await self.scored_orders()

        self.say("[8/8] invariant check")
        order_ids = [result.order_id for result in self.report.results]
        self.report.violations = await asyncio.to_thread(
            check_order_invariants, settings.postgres_dsn, order_ids
        )
        return self.report

    # --- the fraud monitor and the stream -------------------------------------------------------

    async def wait_for_cep_job(self) -> None:
        handle = self.client.get_workflow_handle(f"fraud-monitor-{self.config.job_name}")
        deadline = time.monotonic() + 300
        last = ""
        while time.monotonic() < deadline:
            view: MonitorView = await handle.query(FraudMonitorWorkflow.state)
            if view.state != last:
                self.say(f"      Flink job {view.job_id or '(submitting)'}: {view.state}")
                last = view.state
            if view.state == "RUNNING":
                return
            await asyncio.sleep(2)
        raise RuntimeError(
            f"the Flink CEP job did not reach RUNNING in 300 s (last state {last}); see the "
            f"Flink UI at {self.settings.flink_ui_url}"
        )

    def produce_stream(self) -> StreamStats:
        config = self.config
        return produce(
            self.settings.kafka_bootstrap_servers,
            self.settings.transactions_topic,
            self.settings.postgres_dsn,
            run_id=self.run_id,
            seed=config.seed,
            rate=config.stream_rate,
            duration_s=config.stream_seconds,
            fraud_share=config.fraud_share,
            realtime=True,
            inject=self.injections,
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
            raise RuntimeError("the stream ended before the attack could join it: lengthen it")
        store_labels(self.settings.postgres_dsn, self.run_id, labels)

    # --- orders -----------------------------------------------------------------------------------

    def order(
        self,
        label: str,
        customer_id: str,
        card_id: str,
        items: dict[str, int],
        country: str = "FR",
    ) -> OrderRequest:
        return OrderRequest(
            order_id=f"{self.run_id}-{label}",
            customer_id=customer_id,
            payment=PaymentMethod(card_id=card_id),
            items=[
                OrderItem(sku=sku, quantity=quantity, unit_price=PRICES[sku])
                for sku, quantity in items.items()
            ],
            currency="EUR",
            shipping_address=ShippingAddress(
                name=customer_id,
                line1="1 demo street",
                city=HOME_CITIES.get(country, "Capital"),
                postal_code="10001",
                country=country,
            ),
            client=ClientContext(country=country, ip="198.51.100.23", device_id=f"dev-{card_id}"),
            review_timeout=timedelta(minutes=30),
        )

    async def start(self, order: OrderRequest) -> WorkflowHandle:
        return await self.client.start_workflow(
            OrderSagaWorkflow.run,
            order,
            id=order.order_id,
            task_queue=self.settings.order_task_queue,
        )

    async def wait_for_status(
        self, handle: WorkflowHandle, wanted: OrderStatus, timeout_s: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (await handle.query(OrderSagaWorkflow.status_view)).status is wanted:
                return
            await asyncio.sleep(0.2)
        raise RuntimeError(f"order {handle.id} did not reach {wanted.value} in {timeout_s:g} s")

    async def finish(self, handle: WorkflowHandle, note: str | None) -> OrderResult:
        """The order's result, narrated unless `note` is None."""
        result: OrderResult = await handle.result()
        self.report.results.append(result)
        if note is None:
            return result
        detail = f": {result.reason}" if result.reason else ""
        compensations = ", ".join(c.compensation for c in result.compensations)
        undone = f" (compensated: {compensations})" if compensations else ""
        self.say(f"      {result.order_id} {note} -> {result.status.value}{detail}{undone}")
        return result

    async def order_batch(self) -> None:
        customers = [customer_id for customer_id, _, _ in CUSTOMERS]
        homes = {customer_id: country for customer_id, _, country in CUSTOMERS}
        ordinary = []
        for index in range(self.config.orders):
            customer = customers[index % len(customers)]
            items = {self.rng.choice(EVERYDAY_SKUS): 1}
            ordinary.append(
                self.order(f"o{index}", customer, f"card-{customer}", items, homes[customer])
            )
        declined = self.order("declined", "cust-bob", "card_declined_bob", {"SKU-MONITOR-27": 1})
        reviewed = self.order(
            "reviewed", f"cust-{self.run_id}-new", "card-new", {"SKU-LAPTOP-14": 1}
        )
        cancelled = self.order(
            "cancelled", f"cust-{self.run_id}-late", "card-late", {"SKU-PHONE-X": 2}
        )
        attacked_cards = [
            f"card-{self.run_id}-attacked-{i}" for i in range(self.config.attacked_cards)
        ]
        attacked = [
            self.order(
                f"attacked{i}", f"cust-{self.run_id}-attacked-{i}", card, {"SKU-LAPTOP-14": 1}
            )
            for i, card in enumerate(attacked_cards)
        ]
        self.say(
            f"      {len(ordinary)} ordinary orders, one on a declined card, two large orders "
            f"that need review, {len(attacked)} on cards about to be attacked"
        )
        handles = {o.order_id: await self.start(o) for o in [*ordinary, declined]}
        review_desk = asyncio.create_task(self.approve_unexpected_reviews(list(handles.values())))
        everyday = asyncio.gather(*(self.finish(handles[o.order_id], None) for o in ordinary))
        finished = [self.finish(handles[declined.order_id], "card declined at authorization")]

        in_review = {o.order_id: await self.start(o) for o in [reviewed, cancelled, *attacked]}
        for handle in in_review.values():
            await self.wait_for_status(handle, OrderStatus.AWAITING_REVIEW)
        self.say(f"      {len(in_review)} orders wait for a reviewer (AWAITING_REVIEW)")

        await in_review[reviewed.order_id].execute_update(
            OrderSagaWorkflow.decide_review,
            ReviewDecision(decision=ReviewVerdict.APPROVE, reviewer="rita", note="known buyer"),
        )
        finished.append(self.finish(in_review[reviewed.order_id], "approved in review (Update)"))
        await in_review[cancelled.order_id].execute_update(
            OrderSagaWorkflow.cancel, CancelRequest(reason="customer changed their mind")
        )
        finished.append(self.finish(in_review[cancelled.order_id], "cancelled (Update)"))

        self.say(f"      card testing on {len(attacked_cards)} cards, sent to Kafka")
        await asyncio.to_thread(self.attack, attacked_cards)
        aborted = [
            asyncio.wait_for(
                self.finish(in_review[o.order_id], "fraud alert signal while in review"),
                self.config.alert_timeout_s,
            )
            for o in attacked
        ]
        try:
            await asyncio.gather(*aborted)
        except TimeoutError as exc:
            raise RuntimeError(
                f"no fraud alert reached the attacked orders within "
                f"{self.config.alert_timeout_s:g} s: is the Flink job running "
                f"({self.settings.flink_ui_url}) and the alert router polling?"
            ) from exc
        blocked = self.order(
            "blocked", f"cust-{self.run_id}-attacked-0", attacked_cards[0], {"SKU-HEADPHONES": 1}
        )
        finished.append(self.finish(await self.start(blocked), "on an attacked card"))
        await asyncio.gather(*finished)
        outcomes = Counter(result.status.value for result in await everyday)
        self.say(
            f"      {len(ordinary)} ordinary orders: "
            + ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        )
        review_desk.cancel()

    async def approve_unexpected_reviews(self, handles: list[WorkflowHandle]) -> None:
        """The review desk for orders the rules happen to flag (e.g. an amount far above the
        customer's average): approved, so that the batch finishes."""
        pending = list(handles)
        while pending:
            await asyncio.sleep(2)
            for handle in list(pending):
                view = await handle.query(OrderSagaWorkflow.status_view)
                if view.status.terminal:
                    pending.remove(handle)  # no need to ask a finished order again
                elif view.status is OrderStatus.AWAITING_REVIEW:
                    await handle.execute_update(
                        OrderSagaWorkflow.decide_review,
                        ReviewDecision(
                            decision=ReviewVerdict.APPROVE, reviewer="desk", note="checked"
                        ),
                    )

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
        while not waiting.done():
            try:
                now = await handle.query(FeaturePipelineWorkflow.stage)
            except (RPCError, WorkflowQueryFailedError):  # it ended between check and query
                now = stage
            if now != stage:
                self.say(f"      {time.monotonic() - began:5.0f} s  {now}")
                stage = now
            await asyncio.wait([waiting], timeout=3)
        result: PipelineResult = waiting.result()
        metrics = result.training.metrics
        self.say(
            f"      {result.decision.value}: {result.training.version_id} holdout PR-AUC "
            f"{metrics.pr_auc:.3f}, champion {result.champion} ({result.reason})"
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

    async def scored_orders(self) -> None:
        card = f"card-{self.run_id}-burst"
        customer = f"cust-{self.run_id}-traveller"
        orders = [
            self.order("scored-single", "cust-alice", "card-cust-alice", {"SKU-CABLE-USBC": 1})
        ]
        orders += [
            self.order(f"scored-burst{i}", customer, card, {"SKU-HEADPHONES": 1}, country)
            for i, country in enumerate(BURST_COUNTRIES)
        ]
        self.say(
            f"      one everyday order, then {len(BURST_COUNTRIES)} orders on one card from "
            f"{len(BURST_COUNTRIES)} countries in a few seconds"
        )
        for order in orders:
            handle = await self.start(order)
            await self.settle(handle)
            result = await self.finish(handle, None)
            version, score = await asyncio.to_thread(self.model_score, order.order_id)
            label = order.client.country
            self.report.scored.append(
                ScoredOrder(order.order_id, label, result.status, version, score)
            )
            shown = f"{score:.3f}" if score is not None else "n/a (no champion)"
            self.say(f"      {order.order_id} ({label}): score {shown} -> {result.status.value}")

    async def settle(self, handle: WorkflowHandle) -> None:
        """Wait until the order is past the screen; an order the model sends to review is
        rejected by the fraud desk."""
        for _ in range(300):
            status = (await handle.query(OrderSagaWorkflow.status_view)).status
            if status is OrderStatus.AWAITING_REVIEW:
                await handle.execute_update(
                    OrderSagaWorkflow.decide_review,
                    ReviewDecision(
                        decision=ReviewVerdict.REJECT, reviewer="fraud-desk", note="model flagged"
                    ),
                )
                return
            if status.terminal:
                return
            await asyncio.sleep(0.1)
        raise RuntimeError(f"order {handle.id} was not screened within 30 s")

    def model_score(self, order_id: str) -> tuple[str | None, float | None]:
        with connect(self.settings.postgres_dsn) as conn:
            row = conn.execute(
                "select detail from saga_events where order_id = %s and step = 'screen_order'",
                (order_id,),
            ).fetchone()
        detail = row[0] if row else {}  # jsonb: a dict already
        return detail.get("model_version"), detail.get("model_score")


async def run_demo(settings: Settings, config: DemoConfig, say: Say) -> DemoReport:
    return await Demo(settings, config, say).run()
