"""`hotel cluster monitor` and `hotel up --monitor`: user errors end in one line."""

from __future__ import annotations

from pathlib import Path

from tests import helpers


def one_line_error(tmp_path: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOTEL_STATE_DIR": str(tmp_path)}
    return helpers.one_line_error(helpers.run_hotel(*args, env=env, timeout=60))


def test_monitor_needs_the_ha_stack(tmp_path: Path) -> None:
    assert "--monitor needs --ha" in one_line_error(tmp_path, "up", "--monitor")
    assert "hotel cluster up" in one_line_error(tmp_path, "cluster", "monitor", "up")


def test_targets_without_prometheus(tmp_path: Path) -> None:
    error = one_line_error(tmp_path, "cluster", "monitor", "targets")
    assert "hotel cluster monitor up" in error


def test_monitoring_role_and_node_reader_need_their_settings(tmp_path: Path) -> None:
    error = one_line_error(tmp_path, "monitor", "role")
    assert "HOTEL_MONITOR_PASSWORD is not set" in error
    error = one_line_error(tmp_path, "monitor", "db-exporter", "--node", "pg0=x:1")
    assert "HOTEL_MONITOR_PASSWORD is not set" in error
