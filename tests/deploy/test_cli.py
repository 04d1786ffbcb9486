"""The hotel CLI end to end, as a user runs it: real processes, real server."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from hotel_models.erd import render_erd
from tests.helpers import PROJECT_ROOT, assert_one_line_error
from tests.helpers import run_hotel as hotel
from tests.migrations.roundtrip import revisions_in_order


def test_committed_erd_is_current() -> None:
    committed = (PROJECT_ROOT / "docs/erd.md").read_text()
    assert committed == render_erd(), "docs/erd.md is stale: run `hotel erd`"


HEAD = revisions_in_order()[-1]


def test_migrate_walks_to_a_target_and_back(empty_url: str) -> None:
    env = {"HOTEL_DATABASE_URL": empty_url}
    assert hotel("migrate", "0003", env=env).returncode == 0
    result = hotel("status", env=env)
    assert f"0003 (head {HEAD})" in result.stdout, result.stdout + result.stderr
    assert hotel("migrate", env=env).returncode == 0
    assert f"{HEAD} (head {HEAD})" in hotel("status", env=env).stdout
    assert hotel("migrate", "0002", env=env).returncode == 0
    assert f"0002 (head {HEAD})" in hotel("status", env=env).stdout
    assert hotel("migrate", "base", env=env).returncode == 0
    assert f"empty (head {HEAD})" in hotel("status", env=env).stdout


def test_unknown_revision_is_one_clear_line(empty_url: str) -> None:
    result = hotel("migrate", "0999", env={"HOTEL_DATABASE_URL": empty_url})
    assert_one_line_error(result, "unknown revision '0999'", "0001")


def test_unreachable_database_is_one_clear_line() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/hotel"
    result = hotel("status", env={"HOTEL_DATABASE_URL": url})
    assert_one_line_error(result, "database error", "127.0.0.1")
    assert "secret" not in result.stderr


def test_bad_dsn_is_one_clear_line() -> None:
    result = hotel("migrate", env={"HOTEL_DATABASE_URL": "not a url"})
    assert_one_line_error(result, "HOTEL_DATABASE_URL is not a valid URL")


def test_no_database_configured_says_how_to_get_one(tmp_path: Path) -> None:
    result = hotel("status", env={"HOTEL_STATE_DIR": str(tmp_path / "state")})
    assert_one_line_error(result, "HOTEL_DATABASE_URL", "hotel up")


def test_missing_server_binaries_name_the_install_command(tmp_path: Path) -> None:
    state = tmp_path / "state"
    result = hotel("up", env={"HOTEL_STATE_DIR": str(state), "HOTEL_PG_BIN_DIR": str(tmp_path)})
    assert_one_line_error(result, "apt-get install", "postgresql-15")


@pytest.mark.slow
def test_up_is_idempotent_and_down_stops() -> None:
    state = Path(tempfile.mkdtemp(prefix="hotel-state-"))
    state.chmod(0o755)
    env = {"HOTEL_STATE_DIR": str(state)}
    try:
        first = hotel("up", env=env)
        assert first.returncode == 0, first.stderr
        assert f"empty -> {HEAD}" in first.stdout
        second = hotel("up", env=env)
        assert second.returncode == 0, second.stderr
        assert f"{HEAD} -> {HEAD}" in second.stdout
        assert (state / "database.url").stat().st_mode & 0o777 == 0o600
        # The service's own login: a generated password, kept private, and its DSN printed.
        assert (state / "app.password").stat().st_mode & 0o777 == 0o600
        assert "service (hotel_app)" in first.stdout
        password = (state / "app.password").read_text().strip()
        assert password not in first.stdout + second.stdout
        app = make_url((state / "database.url").read_text().strip())
        app = app.set(drivername="postgresql", username="hotel_app", password=password)
        with psycopg.connect(app.render_as_string(hide_password=False)) as conn:
            assert conn.execute("SELECT current_user").fetchone() == ("hotel_app",)
        assert hotel("status", env=env).returncode == 0
        assert hotel("down", env=env).returncode == 0
        assert_one_line_error(hotel("status", env=env), "database error")
    finally:
        hotel("down", "--purge", env=env)
    assert not (state / "app.password").exists()  # a secret: purged with the data


@pytest.mark.parametrize(
    "args",
    [
        ["nosuchcmd"],
        ["seed", "--scale"],
        ["erd", "--verbose"],
        ["migrate", "head", "0003", "extra"],
        ["cluster", "nosuchcmd"],
        ["cluster", "monitor", "up", "--bogus"],
        ["backup", "create", "--type", "weekly"],
        ["monitor", "db-exporter", "--port", "many"],
        ["load", "--rate", "fast"],
        ["roles", "drop"],
    ],
)
def test_usage_errors_are_clicks_usage_and_exit_2(args: list[str]) -> None:
    """A mistyped command or option, the most common mistake: click's usage and one Error: line,
    exit code 2, never a traceback (and nothing runs)."""
    result = hotel(*args, timeout=60)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: "), result.stderr
    assert [line for line in lines if line.startswith("Error")] == [lines[-1]]


def test_help_lists_every_package_command() -> None:
    result = hotel("--help", timeout=60)
    assert result.returncode == 0, result.stderr
    for command in ("up", "down", "status", "migrate", "seed", "load", "explain", "check",
                    "erd", "roles", "cluster", "backup", "monitor"):  # fmt: skip
        assert f"  {command} " in result.stdout, command
