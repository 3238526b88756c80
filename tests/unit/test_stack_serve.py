"""`hybrid stack serve`: a service becomes the process itself, as a container's main process."""

import subprocess
import sys
import textwrap
from pathlib import Path


def test_serve_installs_prepares_then_execs_in_the_service_environment(tmp_path: Path) -> None:
    # in a child process: serve() replaces the process that calls it
    script = textwrap.dedent(
        f"""
        from dataclasses import dataclass
        from pathlib import Path

        from core.settings import Settings
        from stack.base import Service

        @dataclass(kw_only=True)
        class Greeter(Service):
            name: str = "greeter"

            def install(self):
                self.greeting = "hello"

            def prepare(self):
                self.state_dir.mkdir(parents=True)

            def environment(self):
                return {{"GREETING": self.greeting}}

            def command(self):
                return ["sh", "-c", 'echo "$GREETING from $(pwd)"']

        Greeter(settings=Settings(stack_dir=Path({str(tmp_path)!r}))).serve()
        print("still here")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"hello from {tmp_path / 'greeter'}\n"
