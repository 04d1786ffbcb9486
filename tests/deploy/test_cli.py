"""The hotel CLI end to end, as a user runs it: real processes, real server."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from deploy.erd import render_erd
from deploy.migrations import PROJECT_ROOT
from tests.migrations.roundtrip import revisions_in_order


def hotel(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_")}
    return subprocess.run(
        [sys.executable, "-c", "from deploy.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env={**base, **(env or {})},
        cwd=PROJECT_ROOT,
        timeout=120,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


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
