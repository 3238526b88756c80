"""The fused detector's own JUnit tests (jobs/flink/fused-detector/src/test): its byte scanner
for the producers' JSON agrees with Jackson on every record it accepts, and declines the rest.
The jar the stack builds skips them (core/toolchain.py built_jar); here Maven runs them."""

from __future__ import annotations

import os
import shutil
import subprocess

from activities.fraud.flink_jobs import FUSED_DETECTOR
from core.settings import Settings
from core.toolchain import java_home


def test_the_scanner_agrees_with_jackson(base_settings: Settings, tmp_path) -> None:
    mvn = shutil.which("mvn")
    assert mvn, "Maven is needed (.ci/run installs it)"
    done = subprocess.run(
        [mvn, "-q", "-B", "-f", str(FUSED_DETECTOR / "pom.xml"), "test", f"-Dbuild.dir={tmp_path}"],
        capture_output=True,
        text=True,
        env={**os.environ, "JAVA_HOME": str(java_home(base_settings, "fused detector tests"))},
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    reports = list((tmp_path / "surefire-reports").glob("TEST-*.xml"))
    assert reports, "no test ran"
    assert all('failures="0"' in r.read_text() and 'errors="0"' in r.read_text() for r in reports)
