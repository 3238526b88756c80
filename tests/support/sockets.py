"""The listening TCP sockets of this machine, with their owners (`ss -ltnpH`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+|\[::1\]|\[::ffff:127\.\d+\.\d+\.\d+\])$")


def listening() -> list[tuple[str, int]]:
    """(local address, pid) of every listening TCP socket with a known owner."""
    ss = shutil.which("ss")
    if ss is None:
        pytest.skip("no `ss` here to list the listening sockets")
    lines = subprocess.run([ss, "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return [
        (line.split()[3], int(pid))
        for line in lines.splitlines()
        for pid in re.findall(r"pid=(\d+)", line)
    ]


def session_of(pid: int) -> int | None:
    try:
        return os.getsid(pid)
    except ProcessLookupError:
        return None


def on_loopback(address: str) -> bool:
    return LOOPBACK.match(address.rsplit(":", 1)[0]) is not None
