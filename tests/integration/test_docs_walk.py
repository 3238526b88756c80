"""The README's order walk, run as a reader runs it: every command of its `temporal` CLI block,
in order, on a stack that has already served the demo and the other tests, each checked against
what the README says it does. A command added to the block without a stated result here, or a
result that no longer holds, fails the test.

Only what keeps it apart from the rest of the session changes: the order ids get a suffix (in
the commands and in copies of the example files) and the task queue is the session's."""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import PROJECT_ROOT, Settings
from core.toolchain import venv_tool
from tests.support.docs_walk import Ran, commands, holds

pytestmark = pytest.mark.usefixtures("seeded", "worker")

SECTION = "### Start, query, review, cancel and watch an order with the `temporal` CLI"
NEVER_ENDS = "--follow"  # a command that watches until interrupted: the walk does not run it


def readme_block(heading: str) -> str:
    text = (PROJECT_ROOT / "README.md").read_text()
    section = text[text.index(heading) :]
    return section.split("```bash\n", 1)[1].split("\n```", 1)[0]


def status_in(ran: Ran, label: str) -> str:
    value = ran.json_after(label)
    assert isinstance(value, dict)
    return str(value["status"])


def steps_of(ran: Ran, field: str = "step") -> set[str]:
    value = ran.json_after("QueryResult")
    assert isinstance(value, list)
    return {str(entry[field]) for entry in value}


# what the README says of each command, by (subcommand, order): checked on its output
STATED: dict[tuple[str, str], Callable[[Ran], bool]] = {
    ("execute", "1001"): lambda ran: (
        ran.returncode == 0 and status_in(ran, "Result") == "COMPLETED"
    ),
    ("start", "1002"): lambda ran: ran.returncode == 0,
    ("query status", "1002"): lambda ran: status_in(ran, "QueryResult") == "AWAITING_REVIEW",
    ("list", "1002"): lambda ran: re.search(r"ord-[0-9a-f]{8}-1002", ran.output) is not None,
    ("update decide_review", "1002"): lambda ran: (
        ran.returncode == 0 and "review APPROVE by rita" in ran.output
    ),
    ("query steps", "1002"): lambda ran: {"record_order", "screen_order"} <= steps_of(ran),
    ("result", "1002"): lambda ran: status_in(ran, "Result") == "COMPLETED",
    ("start", "1003"): lambda ran: ran.returncode == 0,
    ("update cancel", "1003"): lambda ran: (
        ran.returncode == 0 and "cancellation accepted" in ran.output
    ),
    ("result", "1003"): lambda ran: status_in(ran, "Result") == "CANCELLED",
    ("start", "1004"): lambda ran: ran.returncode == 0,
    ("signal fraud_alert", "1004"): lambda ran: ran.returncode == 0,
    ("result", "1004"): lambda ran: status_in(ran, "Result") == "REJECTED",
    ("execute", "1006"): lambda ran: ran.returncode == 0 and status_in(ran, "Result") == "FAILED",
    ("query compensations", "1006"): lambda ran: steps_of(ran, "compensation") == {"release_stock"},
}
# read-only commands a reader may run again until the workflow has caught up (a list's
# visibility lags a little); the others run once
REPEATABLE = ("query", "list")


def key(argv: list[str]) -> tuple[str, str]:
    """(subcommand with its --name, order number) of a `temporal workflow ...` command."""
    subcommand = argv[2] if argv[2] != "update" else f"update {argv[argv.index('--name') + 1]}"
    if argv[2] in ("query", "signal"):
        subcommand = f"{argv[2]} {argv[argv.index('--name') + 1]}"
    order = re.search(r"ord-(?:[0-9a-f]{8}-)?(\d{4})", " ".join(argv))
    if order is None and argv[2] == "list":  # the review queue: the order waiting in it
        return "list", "1002"
    assert order is not None, argv
    return subcommand, order.group(1)


def test_the_readme_order_walk_does_what_it_says(settings: Settings, tmp_path: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    examples = PROJECT_ROOT / "examples" / "orders"
    for example in examples.glob("*.json"):
        text = re.sub(r"ord-(\d{4})", rf"ord-{suffix}-\1", example.read_text())
        (tmp_path / example.name).write_text(text)

    walked = []
    for command in commands(readme_block(SECTION)):
        if NEVER_ENDS in command:
            continue
        command = re.sub(r"ord-(\d{4})", rf"ord-{suffix}-\1", command)
        command = command.replace("examples/orders/", f"{tmp_path}/")
        command = command.replace(
            "--task-queue orders", f"--task-queue {settings.order_task_queue}"
        )
        argv = shlex.split(command)
        assert argv[:2] == ["$T", "workflow"], command
        argv[0] = str(venv_tool("temporal"))
        stated = STATED.get(key(argv))
        assert stated is not None, f"the README states a result this test does not check: {command}"

        def run(argv: list[str] = argv) -> Ran:
            done = subprocess.run(
                [*argv, "--address", settings.temporal_address],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=PROJECT_ROOT,
            )
            return Ran(done.returncode, done.stdout + done.stderr)

        ran = holds(stated, run) if argv[2] in REPEATABLE else run()
        assert stated(ran), f"{command}\n{ran.output}"
        walked.append(key(argv))
    assert set(walked) == set(STATED), "a stated result whose command left the README"
