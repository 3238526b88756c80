"""The heap the fused detector's per-card state takes, per 100,000 active cards (local stack).

A fused job (unbounded, production settings) reads a fresh, empty topic. Two seeded streams of
50,000 cards each go through it, one after the other, every card charging within the widest
rule window (so that no card's state has expired yet); after each, the TaskManager's heap is
measured after a full collection (`jcmd GC.run`, then `GC.heap_info`), the job still running.
The figure is the slope between the two measurements: what a card in its window costs, with
the JVM's object headers and Flink's state map entries, not only the serialized bytes. A slope
leaves out what the job allocates once, on its first records (Kafka clients' buffers, the JIT's
code), which a difference from the empty job counted: 38-78 MiB from one run to the next.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from activities.fraud.flink_jobs import submit_cep_job
from core.engines.flink import FlinkRest
from core.errors import ServiceUnavailable
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from core.toolchain import java_home
from domain.fraud.generator import produce
from domain.fraud.monitor import CepJobSpec

log = logging.getLogger("bench.state_heap")

CARDS_PER_STREAM = 50_000
CHARGES_PER_CARD = 3  # on average: the generator picks a card per charge at random
# the generator keeps rate * 150 cards: 50,000 cards at this rate
RATE = CARDS_PER_STREAM / 150
# each stream's event time: together, well within the widest window (travel, 3,600 s)
STREAM_S = CARDS_PER_STREAM * CHARGES_PER_CARD / RATE


@dataclass
class StateHeap:
    heap_empty: int
    cards: tuple[int, int]  # in their window after the first stream, and after both
    heap: tuple[int, int]  # used after a full GC, at the same points

    @property
    def per_100k_cards(self) -> float:
        return (self.heap[1] - self.heap[0]) / (self.cards[1] - self.cards[0]) * 100_000

    def line(self) -> str:
        mib = [f"{used / 2**20:,.0f}" for used in (self.heap_empty, *self.heap)]
        return (
            f"heap of the fused detector's state: {self.per_100k_cards / 2**20:,.1f} MiB per"
            f" 100k active cards (TaskManager heap after a full GC: {mib[0]} MiB with no card,"
            f" {mib[1]} MiB with {self.cards[0]:,}, {mib[2]} MiB with {self.cards[1]:,})"
        )


def measure_state_heap(settings: Settings) -> StateHeap:
    pid = _taskmanager_pid(settings)
    rest = FlinkRest(settings)
    topic = create_topic(settings, "bench-cards", 4)
    spec = CepJobSpec(
        engine="fused",
        job_name=f"bench-heap-{topic}",
        source_topic=topic,
        alerts_topic=create_topic(settings, "bench-heap-alerts", 1),
        dead_letter_topic=create_topic(settings, "bench-dlq", 1),
        startup_mode="earliest-offset",
    )
    job = submit_cep_job(settings, spec)
    try:
        _wait_running(rest, job)
        empty = _heap_used_after_gc(settings, pid)
        start = datetime.now(UTC)
        cards, heap = [], []
        for stream in range(2):
            produce(
                settings,
                topic,
                run_id=f"h{uuid.uuid4().hex[:5]}",  # cards of its own
                seed=7 + stream,
                rate=RATE,
                duration_s=STREAM_S,
                fraud_share=0.0,
                malformed_share=0.0,
                realtime=False,
                start=start + timedelta(seconds=stream * STREAM_S),  # after the first: not late
            )
            charges = [json.loads(value)["card_id"] for _, value in read_to_end(settings, topic)]
            _wait_consumed(rest, job, len(charges))
            cards.append(len(set(charges)))
            heap.append(_heap_used_after_gc(settings, pid))
    finally:
        rest.cancel(job)
    return StateHeap(empty, (cards[0], cards[1]), (heap[0], heap[1]))


def _taskmanager_pid(settings: Settings) -> int:
    pid_file = settings.stack_dir / "run" / "flink-taskmanager.pid"
    if not pid_file.exists():
        raise ServiceUnavailable(
            "no TaskManager of the local stack is running (the state's heap is measured in its"
            " JVM)",
            "./hybrid stack up",
            subject="flink-taskmanager",
        )
    return int(pid_file.read_text().split()[0])


def _heap_used_after_gc(settings: Settings, pid: int) -> int:
    jcmd = str(java_home(settings, "flink") / "bin" / "jcmd")
    subprocess.run([jcmd, str(pid), "GC.run"], check=True, capture_output=True, timeout=120)
    info = subprocess.run(
        [jcmd, str(pid), "GC.heap_info"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    used = re.search(r"heap\s+total \d+K, used (\d+)K", info)
    if used is None:
        raise RuntimeError(f"unexpected `jcmd GC.heap_info` output: {info[:500]}")
    return int(used.group(1)) * 1024


def _wait_running(rest: FlinkRest, job_id: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        vertices = rest.job(job_id)["vertices"]
        if all(vertex["status"] == "RUNNING" for vertex in vertices):
            time.sleep(5)  # the sources are assigned their partitions
            return
        time.sleep(1)
    raise TimeoutError(f"job {job_id} was not running within {timeout_s:g} s")


def _wait_consumed(rest: FlinkRest, job_id: str, charges: int, timeout_s: float = 300) -> None:
    """Until the detector has taken every charge in (Flink's metrics lag a few seconds)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detector = next(
            vertex
            for vertex in rest.job(job_id)["vertices"]
            if vertex["name"].startswith("fused detector")
        )
        taken = detector["metrics"].get("read-records", 0)
        if taken >= charges:
            return
        log.info("fused detector: %s of %s charges taken in", f"{taken:,}", f"{charges:,}")
        time.sleep(3)
    raise TimeoutError(f"the detector took in fewer than {charges:,} charges in {timeout_s:g} s")
