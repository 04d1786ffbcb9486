"""The compose files without Docker (fast, unmarked): .env.example names every variable the
compose file reads, and has an empty value exactly for each secret."""

from __future__ import annotations

import re
from pathlib import Path

COMPOSE_DIR = Path(__file__).resolve().parents[2] / "deploy" / "compose"


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
        "HOTEL_LOAD_PASSWORD",
        "HOTEL_MONITOR_PASSWORD",
        "HOTEL_GRAFANA_ADMIN_PASSWORD",
        "HOTEL_ANALYST_PASSWORD_ANALYST",
    }
    assert example()["HOTEL_PUBLISH_ADDRESS"] == "127.0.0.1"
