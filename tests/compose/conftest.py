"""The compose stack for `compose` tests: brought up once per session the way a user does
(`deploy/compose/compose.sh up`, i.e. `make compose-up`, with an env file made from
.env.example by filling every empty value and nothing else), reached only through its ports
on 127.0.0.1 and `docker exec`, and removed with its volumes at the end.

The test run only moves the published ports (HOTEL_TEST_CLUSTER_PORT_OFFSET + 500, so a
developer's own stack and the `cluster` tests' do not collide) and picks the tiny seed scale,
through the environment, which compose reads before the env file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from deploy.backup.settings import get_backup_settings
from deploy.cluster.compose import DEFAULT_PORTS, ComposeCluster, docker
from hotel_models.settings import get_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.sh"
REPORTS = ROOT / "reports" / "compose-logs"
# Engineers running the compose tests side by side give each run its own project and image tag.
PROJECT = os.environ.get("HOTEL_TEST_COMPOSE_PROJECT", "hoteltest")
IMAGE_TAG = os.environ.get("HOTEL_IMAGE_TAG", "latest")
# Beside the local stack of the `cluster` tests (same offset variable, 500 further), so the
# two never share a port.
OFFSET = int(os.environ.get("HOTEL_TEST_CLUSTER_PORT_OFFSET", "20000")) + 500


def engine_answers() -> bool:
    return shutil.which("docker") is not None and docker("info", timeout=30).returncode == 0


@contextmanager
def compose_environment(overrides: dict[str, str]) -> Iterator[None]:
    """The environment the stack runs in: the overrides, and none of the test session's own
    HOTEL_* (tests/conftest.py sets hotel_app's password, analysts), which compose would take
    over the stack's env file. Restored on exit, so tests outside this folder keep theirs."""
    with pytest.MonkeyPatch.context() as env:
        for var in [v for v in os.environ if v.startswith("HOTEL_") and v not in overrides]:
            env.delenv(var)
        for var, value in overrides.items():
            env.setenv(var, value)
        clear_settings()
        try:
            yield
        finally:
            env.undo()
            clear_settings()


def clear_settings() -> None:
    """Settings are read once and cached: neither environment may keep the other's."""
    get_settings.cache_clear()
    get_backup_settings.cache_clear()


@pytest.fixture(scope="session")
def stack_overrides() -> Iterator[dict[str, str]]:
    """What the test run changes of a user's stack: ports, project, image tag, seed scale, and
    where its env file lives."""
    workdir = Path(tempfile.mkdtemp(prefix="hotel-compose-test-", dir="/var/tmp"))
    yield {
        "HOTEL_COMPOSE_ENV_FILE": str(workdir / ".env"),
        "COMPOSE_PROJECT_NAME": PROJECT,
        "HOTEL_SEED_SCALE": "tiny",
        "HOTEL_IMAGE_TAG": IMAGE_TAG,
        **{var: str(base + OFFSET) for var, base in DEFAULT_PORTS.items()},
        "HOTEL_GRAFANA_PORT": str(3000 + OFFSET),
    }
    shutil.rmtree(workdir, ignore_errors=True)


# One stack for the session: bringing one up costs minutes, and the fault drills
# (test_compose_stack_faults.py) run on the stack the other compose tests used.
@pytest.fixture(scope="session")
def stack(stack_overrides: dict[str, str]) -> Iterator[ComposeCluster]:
    if not engine_answers():
        pytest.fail(
            "compose tests need a Docker engine: apt-get install docker.io and start dockerd "
            "(.ci/run does both), or deselect them with -m 'not compose'"
        )
    with compose_environment(stack_overrides):
        up = subprocess.run(
            ["bash", str(COMPOSE), "up"], capture_output=True, text=True, timeout=1500, check=False
        )
        print(up.stdout)
    try:
        if up.returncode != 0:
            pytest.fail(f"compose.sh up failed ({save_logs()}):\n{up.stdout}\n{up.stderr}")
        yield ComposeCluster.open(Path(stack_overrides["HOTEL_COMPOSE_ENV_FILE"]), PROJECT)
    finally:
        with compose_environment(stack_overrides):
            save_logs()
            subprocess.run(
                ["bash", str(COMPOSE), "down"],
                env={**os.environ, "PURGE": "1"},
                capture_output=True,
                timeout=300,
                check=False,
            )


@pytest.fixture(autouse=True)
def _stack_environment(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test on the stack runs in the stack's environment (the commands it runs re-create
    containers with it); every other test in the session keeps its own."""
    if "stack" not in request.fixturenames:
        yield
        return
    with compose_environment(request.getfixturevalue("stack_overrides")):
        yield


def save_logs() -> Path:
    """Every container's log, kept after the run (reports/ is git-ignored)."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    dest = REPORTS / f"{PROJECT}.log"
    with dest.open("w") as out:
        subprocess.run(
            ["bash", str(COMPOSE), "logs", "--no-color", "--timestamps"],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=120,
            check=False,
        )
    return dest
