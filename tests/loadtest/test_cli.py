"""Bad input to `hotel load`: one line on stderr, exit 1, no traceback."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import one_line_error, run_hotel


def hotel_load(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    options = ("--metrics-port", "0", "--duration", "1")
    env = {"HOTEL_DATABASE_URL": url, "COLUMNS": "200"}
    # The load logs in as hotel_app with its password (tests/conftest.py sets one per session).
    env["HOTEL_APP_PASSWORD"] = os.environ["HOTEL_APP_PASSWORD"]
    return run_hotel("load", *options, *args, env=env)


@pytest.mark.parametrize("rate", ["0", "-5"])
def test_rate_must_be_positive(load_url: str, rate: str) -> None:
    assert "--rate must be above 0" in one_line_error(hotel_load(load_url, "--rate", rate))


def test_unknown_mix_entry(load_url: str, tmp_path: Path) -> None:
    mix = tmp_path / "mix.toml"
    mix.write_text("[journeys]\nguest_booking = 1\nspammer = 5\n")
    line = one_line_error(hotel_load(load_url, "--mix", str(mix)))
    assert "unknown mix entry journeys.spammer" in line


def test_unreachable_database() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:9/hotel"
    assert "cannot reach the database" in one_line_error(hotel_load(url))


def test_unseeded_database(migrated: Callable[[], str]) -> None:
    line = one_line_error(hotel_load(migrated()))
    assert "seed it first" in line
