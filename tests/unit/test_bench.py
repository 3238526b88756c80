"""The saga benchmark's CPU accounting: a process and everything it started."""

import os
import shlex
import signal
import subprocess
import sys
import time

from tools.bench.cpu import cpu_seconds

# half a second of CPU, then it stays: a process that ended would be counted no more
BURN = (
    "import time\n"
    "t = time.process_time()\n"
    "while time.process_time() - t < 0.5: pass\n"
    "time.sleep(30)"
)


def test_cpu_seconds_counts_the_descendants_of_a_process() -> None:
    # the shell burns nothing itself: what is counted for it is its child's
    shell = subprocess.Popen(
        ["sh", "-c", f"{shlex.quote(sys.executable)} -c {shlex.quote(BURN)} & sleep 30"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 20
        while cpu_seconds({"shell": shell.pid})["shell"] < 0.5 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cpu_seconds({"shell": shell.pid})["shell"] >= 0.5
        assert cpu_seconds({}) == {}
    finally:
        os.killpg(shell.pid, signal.SIGKILL)
        shell.wait()
