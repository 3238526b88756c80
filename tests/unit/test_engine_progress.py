"""The line the demo and the Temporal UI show for a running engine job: the job's own."""

from __future__ import annotations

from core.engines.lifecycle import progress_line


def test_the_jobs_own_line_wins_over_engine_and_library_noise() -> None:
    lines = [
        "26/12/07 00:59:06 WARN NativeCodeLoader: Unable to load native-hadoop library",
        "[train] trial 2/4: {}",
        "(trial pid=4242) fitting",
        "2026-12-07 01:59:06,523        INFO logging_progress.py:192 -- ====",
    ]
    assert progress_line(lines) == "[train] trial 2/4: {}"


def test_nothing_until_the_job_has_said_something() -> None:
    assert progress_line(["26/12/07 00:59:13 INFO BlockManager: Initialized"]) == ""
    assert progress_line([]) == ""
