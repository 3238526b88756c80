"""The tests' in-process worker: one that cannot start fails the test that needs it at once,
with its own error (it used to be handed over dead, and the test waited for its timeout)."""

import pytest

from core.settings import Settings
from core.temporal import TemporalUnavailable
from tests.support.worker import ThreadedWorker


def test_a_worker_that_cannot_start_raises_its_error() -> None:
    unreachable = Settings(temporal_address="127.0.0.1:1", metrics_bind_address="")
    worker = ThreadedWorker(unreachable)
    with pytest.raises(TemporalUnavailable, match=r"127\.0\.0\.1:1"), worker:
        pass
    assert worker not in ThreadedWorker.RUNNING
