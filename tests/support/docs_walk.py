"""Running the docs' shell blocks as a reader runs them: the commands of a block, a command's
output, and a read-only command repeated until its stated result holds."""

from __future__ import annotations

import json
import re
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass


def bash_blocks(markdown: str) -> list[tuple[str, str]]:
    """(the heading above it, its text) of each ```bash block, in page order."""
    blocks, heading = [], ""
    parts = re.split(r"^```bash\n(.*?)^```$", markdown, flags=re.MULTILINE | re.DOTALL)
    for index, part in enumerate(parts):
        if index % 2:
            blocks.append((heading, part))
        else:
            headings = re.findall(r"^#{2,3} (.+)$", part, flags=re.MULTILINE)
            heading = headings[-1] if headings else heading
    return blocks


def commands(block: str) -> list[str]:
    """The block's commands: continuation lines and lines inside an open quote joined,
    comments and blank lines dropped."""
    joined = re.sub(r"\s*\\\n\s*", " ", block)
    found, pending = [], ""
    for raw in joined.splitlines():
        line = raw.strip() if pending else re.sub(r"\s+#\s.*$", "", raw).strip()
        if not pending and line[:1] in ("", "#"):
            continue
        pending = f"{pending} {line}" if pending else line
        try:
            shlex.split(pending)
        except ValueError:  # a quote still open: the command goes on on the next line
            continue
        found.append(pending)
        pending = ""
    return found


@dataclass
class Ran:
    returncode: int
    output: str

    def json_after(self, label: str) -> object:
        """The JSON the CLI prints after `label` (`Result`, `QueryResult`) on a line of its own."""
        for line in self.output.splitlines():
            first, _, rest = line.strip().partition(" ")
            if first == label:
                return json.loads(rest)
        raise AssertionError(f"no {label} in:\n{self.output}")


def holds(check: Callable[[Ran], bool], run: Callable[[], Ran], attempts: int = 40) -> Ran:
    """Runs the command until its stated result holds (a query right after a signal may come
    before the workflow acted on it, as it would for a reader): at most `attempts` times."""
    for _ in range(attempts):
        ran = run()
        if check(ran):
            return ran
        time.sleep(0.5)
    raise AssertionError(f"never held; last output:\n{ran.output}")
