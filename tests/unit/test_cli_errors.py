"""What the `hybrid` command prints when something goes wrong: an error the user can act on is
one line with its remedy; a bug shows its traceback."""

from __future__ import annotations

import subprocess
import sys


def hybrid(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cli", *arguments],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "200", **environment},
        timeout=60,
    )


def test_an_unreachable_database_is_one_line_saying_how_to_start_it() -> None:
    closed = "localhost:1"  # nothing listens there
    done = hybrid("migrate", HYBRID_POSTGRES_DSN=f"postgresql://u:secret@{closed}/db")
    assert done.returncode == 1
    assert done.stdout.startswith(f"error: PostgreSQL is not reachable at {closed}/db")
    assert "-> start the local stack with `./hybrid stack up`" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert "secret" not in done.stdout + done.stderr


def test_an_unreachable_temporal_is_one_line_saying_how_to_start_it() -> None:
    done = hybrid("pipeline", "schedule", "pause", HYBRID_TEMPORAL_ADDRESS="localhost:1")
    assert done.returncode == 1
    assert done.stdout.startswith("error: Temporal is not reachable at localhost:1")
    assert "or set HYBRID_TEMPORAL_ADDRESS" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unknown_service_names_the_ones_there_are() -> None:
    done = hybrid("stack", "serve", "mysql")
    assert done.returncode == 1
    assert done.stdout.startswith("error: [mysql] no such service")
    assert "choose from: postgres, temporal" in done.stdout


def test_a_bug_shows_its_traceback() -> None:
    program = (
        "import sys\n"
        "import cli.main\n"
        "@cli.main.app.command('crash')\n"
        "def crash() -> None:\n"
        "    raise ValueError('a bug')\n"
        "sys.argv = ['hybrid', 'crash']\n"
        "cli.main.main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 1
    assert "Traceback" in done.stderr
    assert "ValueError: a bug" in done.stderr
