"""`hotel cluster monitor` and `hotel up --monitor`: user errors end in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HOTEL = str(Path(sys.executable).parent / "hotel")


def one_line_error(tmp_path: Path, *args: str) -> str:
    env = {"PATH": "/usr/bin:/bin", "HOTEL_STATE_DIR": str(tmp_path)}
    result = subprocess.run(
        [HOTEL, *args], capture_output=True, text=True, check=False, env=env, timeout=60
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_monitor_needs_the_ha_stack(tmp_path: Path) -> None:
    assert "--monitor needs --ha" in one_line_error(tmp_path, "up", "--monitor")
    assert "hotel cluster up" in one_line_error(tmp_path, "cluster", "monitor", "up")


def test_targets_without_prometheus(tmp_path: Path) -> None:
    error = one_line_error(tmp_path, "cluster", "monitor", "targets")
    assert "hotel cluster monitor up" in error


def test_monitoring_role_and_node_reader_need_their_settings(tmp_path: Path) -> None:
    error = one_line_error(tmp_path, "cluster", "monitor", "role")
    assert "HOTEL_MONITOR_PASSWORD is not set" in error
    error = one_line_error(tmp_path, "cluster", "monitor", "db-exporter", "--node", "pg0=x:1")
    assert "HOTEL_MONITOR_PASSWORD is not set" in error
