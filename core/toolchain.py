"""The programs the system runs and where to find them: the venv's launchers (temporal, ray,
spark-submit ...), Java, PostgreSQL's server, and the JVM jars that Maven resolves from infra/jvm.

The local stack starts services with them and the engine clients submit jobs with them. A missing
program is a MissingPrerequisite that says how to install it. Everything here may block (it runs
`java -version`, `apt-get`, Maven): from async code, call it in a thread."""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

from core.errors import MissingPrerequisite
from core.settings import PROJECT_ROOT, Settings

VENV_BIN = Path(sys.executable).parent
JVM_MANIFEST = PROJECT_ROOT / "infra" / "jvm"
POM = {"pom": "http://maven.apache.org/POM/4.0.0"}
INSTALL_JAVA = "install Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"


def venv_tool(name: str) -> Path:
    """A launcher installed into this virtual environment by a wheel (temporal, ray, flink ...)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return candidate
    found = shutil.which(name)
    if found is None:
        raise MissingPrerequisite(
            f"the `{name}` program is not installed",
            "run `./hybrid` once so that it installs the virtual environment (.venv)",
            subject=name,
        )
    return Path(found)


def java_home(settings: Settings, user: str) -> Path:
    """JAVA_HOME, or the installation of the `java` on PATH, for `user` (the service or job
    that needs it). Java 17+ is required."""
    configured = settings.java_home
    if configured:
        java = Path(configured) / "bin" / "java"
        if not java.exists():
            raise MissingPrerequisite(
                f"JAVA_HOME={configured} has no bin/java",
                "point JAVA_HOME at a Java 17+ installation, or unset it to use the `java` on PATH",
                subject=user,
            )
    else:
        found = shutil.which("java")
        if found is None:
            raise MissingPrerequisite(
                "Java is not installed (no `java` on PATH and JAVA_HOME unset)",
                f"{INSTALL_JAVA} or set JAVA_HOME",
                subject=user,
            )
        java = Path(found).resolve()
    version = subprocess.run([str(java), "-version"], capture_output=True, text=True).stderr
    major = _java_major(version)
    if major is not None and major < 17:
        raise MissingPrerequisite(
            f"Java {major} found at {java}; Java 17 or newer is required",
            f"{INSTALL_JAVA} and set JAVA_HOME",
            subject=user,
        )
    return java.parent.parent


def _java_major(version_output: str) -> int | None:
    for token in version_output.replace('"', " ").split():
        head = token.split(".")[0]
        if head.isdigit() and "." in token:
            major = int(head)
            return int(token.split(".")[1]) if major == 1 else major
    return None


def postgres_bin_dir(user: str) -> Path:
    """Debian's PostgreSQL server binaries, installed with apt when absent and we are root."""
    found = _find_postgres()
    if found is not None:
        return found
    if os.geteuid() != 0:
        raise MissingPrerequisite(
            "the PostgreSQL server is not installed (no initdb/postgres found)",
            "install it with `sudo apt-get install -y postgresql`, then run again",
            subject=user,
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "postgresql"],
    ):
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise MissingPrerequisite(
                f"`{' '.join(command)}` failed: {done.stderr.strip()[-400:]}",
                "install PostgreSQL by hand (apt-get install postgresql) and run again",
                subject=user,
            )
    found = _find_postgres()
    if found is None:
        raise MissingPrerequisite(
            "PostgreSQL installed but its binaries were not found",
            "check /usr/lib/postgresql/*/bin",
            subject=user,
        )
    return found


def _find_postgres() -> Path | None:
    def major(binary: Path) -> int:
        version = binary.parent.parent.name
        return int(version) if version.isdigit() else 0

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"), key=major)
    if debian:
        return debian[-1].parent
    on_path = shutil.which("postgres")
    return Path(on_path).resolve().parent if on_path else None


def unprivileged_account(user: str, name: str) -> str | None:
    """The account to run a service as: `name` when we are root, nobody else otherwise."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(name)
    except KeyError as exc:
        raise MissingPrerequisite(
            f"running as root but the unprivileged account `{name}` does not exist",
            f"create it (useradd --system {name}) or run the stack as a normal user",
            subject=user,
        ) from exc
    return name


def jvm_modules() -> list[str]:
    """The modules of the JVM manifest (infra/jvm/pom.xml), in its order."""
    root = ElementTree.parse(JVM_MANIFEST / "pom.xml").getroot()
    return [module.text or "" for module in root.iterfind("pom:modules/pom:module", POM)]


def resolved_stamp(settings: Settings, module: str) -> Path:
    """The file that says a module's jars are in place for the manifest as it is now: named
    after a digest of the parent and module poms, so that any change to them re-resolves."""
    poms = [JVM_MANIFEST / "pom.xml", JVM_MANIFEST / module / "pom.xml"]
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in poms)).hexdigest()[:16]
    return settings.stack_dir / "jars" / module / f".resolved-{digest}"


def maven_jars(settings: Settings, module: str) -> Path:
    """The jars of one module of infra/jvm, resolved by Maven into the stack directory.

    Re-resolved only when the manifest changes; Maven's own cache makes that cheap. The project
    image runs this at build time (`hybrid stack jars`), so its containers never need Maven."""
    stamp = resolved_stamp(settings, module)
    target = stamp.parent
    if not stamp.exists():
        _maven(
            settings,
            f"jars:{module}",
            target,
            [
                "-f",
                str(JVM_MANIFEST / module / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={target}",
            ],
            f"Maven could not resolve the jars of infra/jvm/{module}",
            "check network access to Maven Central",
        )
        stamp.touch()
    return target


def built_jar(settings: Settings, source: Path) -> Path:
    """The jar Maven builds from a module of ours (e.g. jobs/flink/fused-detector), under
    .stack/jars/<module>/: rebuilt only when its pom or a source file changes."""
    files = sorted([source / "pom.xml", *(source / "src").rglob("*.java")])
    digest = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    target = settings.stack_dir / "jars" / source.name
    jar = target / f"{source.name}-{digest}.jar"
    if not jar.exists():
        build = target / "build"
        _maven(
            settings,
            f"jar:{source.name}",
            target,
            ["-f", str(source / "pom.xml"), "package", "-DskipTests", f"-Dbuild.dir={build}"],
            f"Maven could not build {source.relative_to(PROJECT_ROOT)}",
            "it needs a JDK (javac) and network access to Maven Central; or the source does not"
            " compile",
        )
        (build / f"{source.name}.jar").rename(jar)
        shutil.rmtree(build)
    return jar


def _maven(
    settings: Settings, subject: str, target: Path, args: list[str], failed: str, remedy: str
) -> None:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise MissingPrerequisite(
            "Maven (`mvn`) is not installed",
            "install it (Debian: apt-get install maven) and run again",
            subject=subject,
        )
    java = java_home(settings, subject)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    done = subprocess.run(
        [mvn, "-q", "-B", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "JAVA_HOME": str(java)},
    )
    if done.returncode != 0:
        raise MissingPrerequisite(
            failed,
            f"{remedy}; Maven said:\n" + done.stdout[-1500:],
            subject=subject,
        )
