"""The heap the fused detector's per-card state takes, per 100,000 active cards (local stack).

A fused job (unbounded, production settings) reads a fresh, empty topic. The TaskManager's heap
is measured after a full collection (`jcmd GC.run`, then `GC.heap_info`); then a seeded stream
whose cards all charge within the widest rule window (so that no card's state has expired yet)
goes through the job, and the heap is measured again the same way, the job still running. The
difference over the stream's distinct cards is the figure: what a card in its window costs,
with the JVM's object headers and Flink's state map entries, not only the serialized bytes.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
import uuid
from dataclasses import dataclass

from activities.fraud.flink_jobs import submit_cep_job
from core.engines.flink import FlinkRest
from core.errors import ServiceUnavailable
from core.kafka import create_topic, read_to_end
from core.settings import Settings
from core.toolchain import java_home
from domain.fraud.generator import produce
from domain.fraud.monitor import CepJobSpec

log = logging.getLogger("bench.state_heap")

CARDS = 100_000
CHARGES_PER_CARD = 3  # on average: the generator picks a card per charge at random
# the generator keeps rate * 150 cards: 100,000 cards at this rate
RATE = CARDS / 150


@dataclass
class StateHeap:
    cards: int
    heap_before: int
    heap_after: int

    @property
    def per_100k_cards(self) -> float:
        return (self.heap_after - self.heap_before) / self.cards * 100_000

    def line(self) -> str:
        return (
            f"heap of the fused detector's state: {self.per_100k_cards / 2**20:,.1f} MiB per"
            f" 100k active cards ({self.cards:,} cards in their window; TaskManager heap after a"
            f" full GC {self.heap_before / 2**20:,.0f} -> {self.heap_after / 2**20:,.0f} MiB)"
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
        before = _heap_used_after_gc(settings, pid)
        produce(
            settings,
            topic,
            run_id=f"h{uuid.uuid4().hex[:5]}",
            seed=7,
            rate=RATE,
            duration_s=CARDS * CHARGES_PER_CARD / RATE,  # 450 s of event time: < the widest window
            fraud_share=0.0,
            malformed_share=0.0,
            realtime=False,
        )
        charges = [json.loads(value)["card_id"] for _, value in read_to_end(settings, topic)]
        _wait_consumed(rest, job, len(charges))
        after = _heap_used_after_gc(settings, pid)
    finally:
        rest.cancel(job)
    return StateHeap(len(set(charges)), before, after)


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
