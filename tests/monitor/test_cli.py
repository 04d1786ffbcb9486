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
