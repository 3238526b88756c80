"""The saga benchmark: real order sagas against a no-op workflow of the same shape, side by side
on the same server, with a worker process of their own.

Rounds alternate between the two workloads so that drift on a noisy machine hits both alike.
Reports throughput and end-to-end latency percentiles for each, and their ratios; and, as both
are bound by the machine's CPU, the CPU time each workload costs per workflow in the Temporal
server, the worker and PostgreSQL (read from /proc for the processes of the local stack)."""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from temporalio.client import Client

from core.db.connections import connect as connect_db
from core.settings import Settings
from core.temporal import connect
from domain.orders.examples import an_order
from domain.orders.models import OrderStatus
from tools.bench.cpu import CPU_SERVICES, cpu_seconds, stack_processes
from workflows.orders.noop_saga import NoopSagaWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow

SAGA_ACTIVITIES = 8  # record, screen, zone check, reserve, authorize, ship, capture, complete


@dataclass
class Sample:
    latencies_s: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    cpu_s: dict[str, float] = field(default_factory=dict)

    def cpu_ms_per_workflow(self, service: str) -> float:
        return self.cpu_s.get(service, 0.0) / max(1, len(self.latencies_s)) * 1000

    @property
    def throughput(self) -> float:
        return len(self.latencies_s) / self.elapsed_s if self.elapsed_s else 0.0

    def percentile(self, q: int) -> float:
        ordered = sorted(self.latencies_s)
        if len(ordered) < 2:
            return ordered[0] if ordered else float("nan")
        return statistics.quantiles(ordered, n=100, method="inclusive")[q - 1]


@dataclass
class Report:
    orders: int
    concurrency: int
    noop: Sample
    saga: Sample
    lone_noop: Sample
    lone_saga: Sample

    def lines(self) -> list[str]:
        def row(name: str, s: Sample) -> str:
            return (
                f"{name:<18}{s.throughput:>10.1f}{s.percentile(50) * 1000:>10.0f}"
                f"{s.percentile(95) * 1000:>10.0f}{s.percentile(99) * 1000:>10.0f}"
            )

        return [
            f"{self.orders} workflows per workload at concurrency {self.concurrency}; "
            f"{SAGA_ACTIVITIES} activities each",
            f"{'workload':<18}{'wf/s':>10}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}",
            row("no-op baseline", self.noop),
            row("order saga", self.saga),
            row("lone no-op", self.lone_noop),
            row("lone saga", self.lone_saga),
            f"saga/no-op throughput ratio: {self.saga.throughput / self.noop.throughput:.2f}"
            " (goal >= 0.8)",
            f"lone saga p50 / lone no-op p50: "
            f"{self.lone_saga.percentile(50) / self.lone_noop.percentile(50):.2f} (goal <= 2)",
            *self.cpu_lines(),
        ]

    def cpu_lines(self) -> list[str]:
        # the worker is always measured; Temporal and PostgreSQL when this machine's stack runs them
        measured = [s for s in CPU_SERVICES if s in self.noop.cpu_s]

        def row(name: str, sample: Sample) -> str:
            cells = [sample.cpu_ms_per_workflow(service) for service in measured]
            return f"{name:<18}" + "".join(f"{c:>12.1f}" for c in cells) + f"{sum(cells):>12.1f}"

        return [
            "CPU per workflow in ms (concurrent runs; the machine's cores bound both workloads):",
            f"{'workload':<18}" + "".join(f"{s:>12}" for s in measured) + f"{'total':>12}",
            row("no-op baseline", self.noop),
            row("order saga", self.saga),
        ]


async def _measure(
    runs: int,
    concurrency: int,
    one: Callable[[], Awaitable[None]],
    into: Sample,
    processes: dict[str, int] | None = None,
) -> None:
    gate = asyncio.Semaphore(concurrency)
    cpu_before = cpu_seconds(processes or {})

    async def timed() -> None:
        async with gate:
            started = time.perf_counter()
            await one()
            into.latencies_s.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(timed() for _ in range(runs)))
    into.elapsed_s += time.perf_counter() - started
    for service, seconds in cpu_seconds(processes or {}).items():
        into.cpu_s[service] = into.cpu_s.get(service, 0.0) + seconds - cpu_before[service]


async def run_benchmark(
    settings: Settings, orders: int, concurrency: int, rounds: int = 2, lone: int = 20
) -> Report:
    queue = f"bench-{uuid.uuid4().hex[:6]}"
    sku = f"SKU-BENCH-{uuid.uuid4().hex[:6].upper()}"
    customer = f"cust-bench-{uuid.uuid4().hex[:6]}"
    with connect_db(settings.postgres_dsn) as conn:
        conn.execute(
            "insert into inventory (sku, description, unit_price, on_hand, max_per_order)"
            " values (%s, 'benchmark item', 10, 1000000, 10)",
            (sku,),
        )
        conn.execute(
            "insert into customers (customer_id, name, home_country) values (%s, 'Bench', 'DE')",
            (customer,),
        )
    worker = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "worker",
        "--task-queue",
        queue,
        env={
            **os.environ,
            "HYBRID_ORDER_TASK_QUEUE": queue,
            "HYBRID_METRICS_BIND_ADDRESS": "",
            # the rules alone screen the orders: a champion that the demo or a pipeline
            # promoted would send this burst of orders on one card to review
            "HYBRID_FRAUD_MODEL_NAME": f"{queue}-no-model",
        },
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )
    client = await connect(settings)

    async def noop() -> None:
        await client.execute_workflow(
            NoopSagaWorkflow.run,
            SAGA_ACTIVITIES,
            id=f"noop-{uuid.uuid4().hex[:12]}",
            task_queue=queue,
        )

    async def saga() -> None:
        order = an_order(
            {sku: 1},
            prefix="bench",
            customer_id=customer,
            card_id="card_bench_4242",
            country="DE",
            unit_price="10.00",
        )
        result = await client.execute_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
        )
        if result.status is not OrderStatus.COMPLETED:
            raise RuntimeError(f"benchmark order {order.order_id} ended {result.status}")

    report = Report(orders, concurrency, Sample(), Sample(), Sample(), Sample())
    processes = {"worker": worker.pid} | stack_processes(settings)
    try:
        await _warm_up(client, noop, saga)
        per_round = max(1, orders // rounds)
        for _ in range(rounds):
            await _measure(per_round, concurrency, noop, report.noop, processes)
            await _measure(per_round, concurrency, saga, report.saga, processes)
        for _ in range(lone):
            await _measure(1, 1, noop, report.lone_noop)
            await _measure(1, 1, saga, report.lone_saga)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        await worker.wait()
    return report


async def _warm_up(
    client: Client, noop: Callable[[], Awaitable[None]], saga: Callable[[], Awaitable[None]]
) -> None:
    """The worker process starts and caches its workflow sandbox before anything is timed."""
    await asyncio.wait_for(asyncio.gather(*(f() for f in (noop, saga) for _ in range(5))), 120)
