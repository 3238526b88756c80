"""The real worker for tests: in-process on a thread of its own (watched for a blocked event
loop), or as a process of its own (to be killed)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from typing import ClassVar

from core.settings import Settings
from worker.run import run_worker

log = logging.getLogger("tests.worker")

# What keeps a test's worker process apart from the stack's worker and the demo's state.
WORKER_PROCESS_SETTINGS = (
    "order_task_queue",
    "fraud_task_queue",
    "pipeline_task_queue",
    "fraud_model_name",
    "payment_latency_ms",
    "lake_dir",
    "model_store_dir",
)


class LoopWatchdog:
    """Asks the event loop every `interval_s` to run a callback; when it cannot for more than
    `limit_s` (an async activity doing blocking I/O, say), records how long and what the loop's
    thread was running. Cheaper than asyncio's debug mode, and it names the culprit."""

    def __init__(self, limit_s: float = 1.0, interval_s: float = 0.1):
        self.limit_s = limit_s
        self.interval_s = interval_s
        self.incidents: list[str] = []
        self._stopped = threading.Event()

    def watch(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        threading.Thread(
            target=self._run, args=(loop, loop_thread), name="loop-watchdog", daemon=True
        ).start()

    def stop(self) -> None:
        self._stopped.set()

    def take(self) -> list[str]:
        incidents, self.incidents = self.incidents, []
        return incidents

    def _run(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        while not self._stopped.wait(self.interval_s):
            answered = threading.Event()
            asked = time.monotonic()
            try:
                loop.call_soon_threadsafe(answered.set)
            except RuntimeError:  # the loop is closed
                return
            if answered.wait(self.limit_s):
                continue
            frame = sys._current_frames().get(loop_thread)
            stack = "".join(traceback.format_stack(frame)[-25:]) if frame else "(no frame)"
            answered.wait()
            self.incidents.append(
                f"the worker's event loop was blocked for {time.monotonic() - asked:.1f} s;"
                f" it was running:\n{stack}"
            )


class ThreadedWorker:
    """The real worker on its own thread and event loop, so that synchronous tests (which block
    the test loop, e.g. while the `temporal` CLI runs) never starve it. `RUNNING` holds the ones
    started and not yet stopped."""

    RUNNING: ClassVar[set[ThreadedWorker]] = set()

    def __init__(self, settings: Settings):
        self.settings = settings
        self.started = threading.Event()
        self.failure: BaseException | None = None
        self.watchdog = LoopWatchdog()
        self.thread = threading.Thread(target=self._run, name="test-worker", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self.watchdog.watch(self.loop, threading.get_ident())
            self.stop, ready = asyncio.Event(), asyncio.Event()
            ready_waiter = asyncio.create_task(ready.wait())
            # only a worker that got ready counts as started: when run_worker fails, asyncio.run
            # cancels the waiter on its way out, and the failure must be recorded first
            ready_waiter.add_done_callback(
                lambda waiter: None if waiter.cancelled() else self.started.set()
            )
            try:
                await run_worker(self.settings, self.stop, ready)
            except BaseException as exc:
                self.failure = exc
                raise

        try:
            asyncio.run(main())
        except BaseException:
            log.exception("the test worker stopped")
        finally:
            self.started.set()

    def __enter__(self) -> ThreadedWorker:
        self.thread.start()
        if not self.started.wait(120):
            raise TimeoutError("the test worker was not ready within 120 s")
        if self.failure is not None:
            raise self.failure
        ThreadedWorker.RUNNING.add(self)
        return self

    def __exit__(self, *_: object) -> None:
        ThreadedWorker.RUNNING.discard(self)
        self.watchdog.stop()
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.stop.set)
            self.thread.join(30)

    def problems(self) -> list[str]:
        """What went wrong since the last call: the worker stopped by itself, or its event loop
        was blocked."""
        problems = self.watchdog.take()
        if not self.thread.is_alive() and self.failure is not None:
            problems.append(f"the worker stopped: {self.failure!r}")
            self.failure = None
        return problems


def worker_env(**settings: str) -> dict[str, str]:
    """The environment of a test's worker process: these settings (as HYBRID_* variables) and no
    metrics port, because the worker the demo leaves running holds the default one."""
    return {
        **os.environ,
        "HYBRID_METRICS_BIND_ADDRESS": "",
        **{f"HYBRID_{name.upper()}": value for name, value in settings.items()},
    }


async def start_worker_process(settings: Settings) -> asyncio.subprocess.Process:
    """The worker as a process of its own session (to be killed with its whole group), with the
    test's task queues, model name, payment latency, lake and model store; no metrics port."""
    env = worker_env(**{name: str(getattr(settings, name)) for name in WORKER_PROCESS_SETTINGS})
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        "worker",
        env=env,
        start_new_session=True,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
