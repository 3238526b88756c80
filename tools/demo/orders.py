"""The demo's orders: the batch that goes through every branch of the saga while the stream
runs, and the orders that the champion model scores after the pipeline."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle

from core.db.connections import connect
from core.settings import Settings
from domain.orders.examples import CUSTOMERS, an_order
from domain.orders.models import (
    CancelRequest,
    OrderRequest,
    OrderResult,
    OrderStatus,
    ReviewDecision,
    ReviewVerdict,
)
from tools.demo.report import DemoConfig, DemoReport, DemoStalled, ScoredOrder
from workflows.orders.order_saga import OrderSagaWorkflow

Say = Callable[[str], None]
SagaHandle = WorkflowHandle[OrderSagaWorkflow, OrderResult]

# the everyday catalogue: items whose price keeps ordinary orders clear of the review rules
EVERYDAY_SKUS = ["SKU-HEADPHONES", "SKU-CHARGER-65W", "SKU-CABLE-USBC", "SKU-KEYBOARD"]
BURST_COUNTRIES = ["DE", "IT", "ES", "PT", "BE", "NL", "AT", "PL"]


class OrderScenes:
    def __init__(
        self,
        client: Client,
        settings: Settings,
        config: DemoConfig,
        report: DemoReport,
        say: Say,
    ):
        self.client = client
        self.settings = settings
        self.config = config
        self.report = report
        self.say = say
        self.run_id = report.run_id
        self.rng = random.Random(config.seed)

    def order(
        self, label: str, customer_id: str, card_id: str, items: dict[str, int], country: str = "FR"
    ) -> OrderRequest:
        return an_order(
            items,
            order_id=f"{self.run_id}-{label}",
            customer_id=customer_id,
            card_id=card_id,
            country=country,
            review_timeout=timedelta(minutes=30),
        )

    async def batch(self, attack: Callable[[list[str]], Awaitable[None]]) -> None:
        """Ordinary orders complete; a declined card fails and is compensated; one large order
        is approved in review and another cancelled; orders on cards that `attack` attacks are
        aborted by the fraud alert while in review; a later order on such a card is blocked."""
        run = self.run_id
        ordinary = []
        for index in range(self.config.orders):
            customer = CUSTOMERS[index % len(CUSTOMERS)]
            items = {self.rng.choice(EVERYDAY_SKUS): 1}
            card = f"card-{customer.customer_id}"
            ordinary.append(
                self.order(f"o{index}", customer.customer_id, card, items, customer.home_country)
            )
        declined = self.order("declined", "cust-bob", "card_declined_bob", {"SKU-MONITOR-27": 1})
        reviewed = self.order("reviewed", f"cust-{run}-new", "card-new", {"SKU-LAPTOP-14": 1})
        cancelled = self.order("cancelled", f"cust-{run}-late", "card-late", {"SKU-PHONE-X": 2})
        attacked_cards = [f"card-{run}-attacked-{i}" for i in range(self.config.attacked_cards)]
        attacked = [
            self.order(f"attacked{i}", f"cust-{run}-attacked-{i}", card, {"SKU-LAPTOP-14": 1})
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
        await attack(attacked_cards)
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
            raise DemoStalled(
                "no fraud alert reached the attacked orders within"
                f" {self.config.alert_timeout_s:g} s",
                f"check that the Flink job runs ({self.settings.flink_ui_url}) and that the alert"
                " router's workflow is running (temporal workflow list)",
            ) from exc
        blocked = self.order(
            "blocked", f"cust-{run}-attacked-0", attacked_cards[0], {"SKU-HEADPHONES": 1}
        )
        finished.append(self.finish(await self.start(blocked), "on an attacked card"))
        await asyncio.gather(*finished)
        outcomes = Counter(result.status.value for result in await everyday)
        self.say(
            f"      {len(ordinary)} ordinary orders: "
            + ", ".join(f"{count} {status}" for status, count in sorted(outcomes.items()))
        )
        review_desk.cancel()

    async def scored(self) -> None:
        """An everyday order, then a burst on one card from eight countries, screened by the
        champion: an order the model sends to review is rejected by the fraud desk."""
        card, customer = f"card-{self.run_id}-burst", f"cust-{self.run_id}-traveller"
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

    # --- one order -------------------------------------------------------------------------------

    async def start(self, order: OrderRequest) -> SagaHandle:
        return await self.client.start_workflow(
            OrderSagaWorkflow.run,
            order,
            id=order.order_id,
            task_queue=self.settings.order_task_queue,
        )

    async def wait_for_status(
        self, handle: SagaHandle, wanted: OrderStatus, timeout_s: float = 60
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if (await handle.query(OrderSagaWorkflow.status_view)).status is wanted:
                return
            await asyncio.sleep(0.2)
        raise DemoStalled(
            f"order {handle.id} did not reach {wanted.value} in {timeout_s:g} s",
            "check that the worker runs (`./hybrid stack status`) and see the order in the"
            f" Temporal UI ({self.settings.temporal_ui_url})",
        )

    async def finish(self, handle: SagaHandle, note: str | None) -> OrderResult:
        """The order's result, narrated unless `note` is None."""
        result = await handle.result()
        self.report.results.append(result)
        if note is None:
            return result
        detail = f": {result.reason}" if result.reason else ""
        compensations = ", ".join(c.compensation for c in result.compensations)
        undone = f" (compensated: {compensations})" if compensations else ""
        self.say(f"      {result.order_id} {note} -> {result.status.value}{detail}{undone}")
        return result

    async def approve_unexpected_reviews(self, handles: list[SagaHandle]) -> None:
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

    async def settle(self, handle: SagaHandle) -> None:
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
        raise DemoStalled(
            f"order {handle.id} was not screened within 30 s",
            "check that the worker runs (`./hybrid stack status`)",
        )

    def model_score(self, order_id: str) -> tuple[str | None, float | None]:
        with connect(self.settings.postgres_dsn) as conn:
            row = conn.execute(
                "select detail from saga_events where order_id = %s and step = 'screen_order'",
                (order_id,),
            ).fetchone()
        detail = row[0] if row else {}  # jsonb: a dict already
        return detail.get("model_version"), detail.get("model_score")
