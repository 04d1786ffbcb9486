"""The compose files and user errors without a Docker engine (unmarked): .env.example names
every variable the compose file reads and leaves exactly the secrets empty; a missing engine
fails the docker test backend and the compose drill in one line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"


def example() -> dict[str, str]:
    lines = (COMPOSE_DIR / ".env.example").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_env_example_names_every_variable_of_the_compose_file() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (COMPOSE_DIR / "docker-compose.yml").read_text()))
    assert used - example().keys() == set()


def test_env_example_leaves_exactly_the_secrets_empty() -> None:
    empty = {name for name, value in example().items() if value == ""}
    assert empty == {
        "HOTEL_CLUSTER_SUPERUSER_PASSWORD",
        "HOTEL_CLUSTER_REPLICATION_PASSWORD",
        "HOTEL_CLUSTER_REST_PASSWORD",
        "HOTEL_CLUSTER_REWIND_PASSWORD",
        "HOTEL_CLUSTER_ETCD_ROOT_PASSWORD",
        "HOTEL_CLUSTER_ETCD_PASSWORD",
        "HOTEL_APP_PASSWORD",
        "HOTEL_MONITOR_PASSWORD",
        "HOTEL_GRAFANA_ADMIN_PASSWORD",
        "HOTEL_HAPROXY_STATS_PASSWORD",
        "HOTEL_ANALYST_PASSWORD_ANALYST",
    }
    assert example()["HOTEL_PUBLISH_ADDRESS"] == "127.0.0.1"


def test_docker_backend_without_an_engine_fails_instead_of_skipping(tmp_path: Path) -> None:
    env = {**os.environ, "HOTEL_TEST_BACKEND": "docker", "DOCKER_HOST": f"unix://{tmp_path}/none"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "tests/models/test_constraints.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 1, run.stdout[-2000:]
    assert "HOTEL_TEST_BACKEND=docker: no Docker engine answers" in run.stdout
    assert "skipped" not in run.stdout.splitlines()[-1]


def test_compose_drill_without_the_stack_is_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("HOTEL_CLUSTER_SUPERUSER_PASSWORD=x\n")
    hotel = str(Path(sys.executable).parent / "hotel")
    run = subprocess.run(
        [hotel, "cluster", "drill", "--compose", "--env-file", str(env_file),
         "--project", "hotel-no-such-project"],
        env={**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/none"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "hotel-no-such-project" in lines[0]
