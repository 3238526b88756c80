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
from decimal import Decimal
from pathlib import Path

import psycopg
from temporalio.client import Client

from core.db.connections import connect, database_unavailable
from core.settings import Settings
from core.temporal import connect
from domain.orders.models import (
    ClientContext,
    OrderItem,
    OrderRequest,
    OrderStatus,
    PaymentMethod,
    ShippingAddress,
)
from stack.launcher import Stack
from workflows.orders.noop_saga import NoopSagaWorkflow
from workflows.orders.order_saga import OrderSagaWorkflow

SAGA_ACTIVITIES = 8  # record, screen, zone check, reserve, authorize, ship, capture, complete


CPU_SERVICES = ("temporal", "worker", "postgres")  # the processes a saga keeps busy
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system) so far of each named process and all its descendants (a
    PostgreSQL server's backends, for one)."""
    if not roots:
        return {}
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS

    names = {root: name for name, root in roots.items()}

    def root_of(pid: int) -> str | None:
        while pid > 1 and pid not in names:
            pid = parents.get(pid, 0)
        return names.get(pid)

    seconds = dict.fromkeys(roots, 0.0)
    for pid, used in cpu.items():
        name = root_of(pid)
        if name is not None:
            seconds[name] += used
    return seconds


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


def bench_order(sku: str, customer_id: str) -> OrderRequest:
    return OrderRequest(
        order_id=f"bench-{uuid.uuid4().hex[:12]}",
        customer_id=customer_id,
        payment=PaymentMethod(card_id="card_bench_4242"),
        items=[OrderItem(sku=sku, quantity=1, unit_price=Decimal("10.00"))],
        currency="EUR",
        shipping_address=ShippingAddress(
            name="Bench Buyer",
            line1="1 bench road",
            city="Berlin",
            postal_code="10115",
            country="DE",
        ),
        client=ClientContext(country="DE", ip="203.0.113.9", device_id="dev-bench"),
    )


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
    try:
        conn = connect(settings.postgres_dsn, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise database_unavailable(settings) from exc
    with conn:
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
        "cli.main",
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
        order = bench_order(sku, customer)
        result = await client.execute_workflow(
            OrderSagaWorkflow.run, order, id=order.order_id, task_queue=queue
        )
        if result.status is not OrderStatus.COMPLETED:
            raise RuntimeError(f"benchmark order {order.order_id} ended {result.status}")

    report = Report(orders, concurrency, Sample(), Sample(), Sample(), Sample())
    processes = {"worker": worker.pid} | _stack_processes(settings)
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


def _stack_processes(settings: Settings) -> dict[str, int]:
    """The Temporal server's and PostgreSQL's processes, if this machine's stack runs them (a
    remote or compose stack is not measured)."""
    processes: dict[str, int] = {}
    for service in Stack(settings).select(["temporal", "postgres"]):
        process = service.recorded_process()
        if process is not None:
            processes[service.name] = process.pid
    return processes


async def _warm_up(
    client: Client, noop: Callable[[], Awaitable[None]], saga: Callable[[], Awaitable[None]]
) -> None:
    """The worker process starts and caches its workflow sandbox before anything is timed."""
    await asyncio.wait_for(asyncio.gather(*(f() for f in (noop, saga) for _ in range(5))), 120)
