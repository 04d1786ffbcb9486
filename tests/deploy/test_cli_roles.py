"""`hotel roles sync` reconciles analyst logins on a migrated database."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from deploy.cli import app
from hotel_models.settings import get_settings
from tests.helpers import assert_one_line_error
from tests.helpers import run_hotel as hotel


def test_roles_sync_sets_the_configured_password(
    head_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_engine(head_url, poolclass=pool.NullPool)
    with engine.begin() as conn:  # drift: someone switched ann's login off
        conn.execute(text("ALTER ROLE ann NOLOGIN PASSWORD NULL"))
    monkeypatch.setenv("HOTEL_DATABASE_URL", head_url)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["roles", "sync"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "analysts ann, bob" in result.output
    with engine.connect() as conn:
        login, has_password = conn.execute(
            text(
                "SELECT rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%' "
                "FROM pg_authid WHERE rolname = 'ann'"
            )
        ).one()
    engine.dispose()
    assert login
    assert has_password


@pytest.mark.parametrize(
    "name", ["postgres", "hotel_app", "hotel_owner", "replicator", "analytic", "pg_monitor"]
)
def test_roles_sync_refuses_a_reserved_name(head_url: str, name: str) -> None:
    """The attack: HOTEL_ANALYSTS=postgres turned the superuser NOLOGIN."""
    before = role_attributes(head_url, name)
    result = hotel("roles", "sync", env={"HOTEL_DATABASE_URL": head_url, "HOTEL_ANALYSTS": name})
    assert_one_line_error(result, "reserved role name", repr(name))
    assert role_attributes(head_url, name) == before


def test_roles_sync_refuses_an_existing_role_that_is_not_an_analyst(head_url: str) -> None:
    engine = create_engine(head_url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP ROLE IF EXISTS etl_robot"))
        conn.execute(text("CREATE ROLE etl_robot LOGIN CONNECTION LIMIT 2"))
    try:
        result = hotel(
            "roles", "sync", env={"HOTEL_DATABASE_URL": head_url, "HOTEL_ANALYSTS": "ann,etl_robot"}
        )
        assert_one_line_error(result, "'etl_robot' is an existing role that is not an analyst")
        # Nothing was altered, not even the valid name before it (one transaction).
        assert role_attributes(head_url, "etl_robot") == (True, 2, False)
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP ROLE etl_robot"))
        engine.dispose()


def role_attributes(url: str, name: str) -> tuple[bool, int, bool] | None:
    """(can log in, connection limit, member of analytic), None when the role is missing."""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT rolcanlogin, rolconnlimit, pg_has_role(oid, 'analytic', 'MEMBER') "
                "FROM pg_roles WHERE rolname = :n"
            ),
            {"n": name},
        ).first()
    engine.dispose()
    return None if row is None else (row[0], row[1], row[2])


def test_roles_sync_gives_hotel_app_its_password(head_url: str) -> None:
    password = uuid.uuid4().hex
    # The session's analysts stay as they are (a sync without them would set them NOLOGIN).
    analysts = {k: v for k, v in os.environ.items() if k.startswith("HOTEL_ANALYST")}
    env = {**analysts, "HOTEL_DATABASE_URL": head_url, "HOTEL_APP_PASSWORD": password}
    result = hotel("roles", "sync", env=env)
    assert result.returncode == 0, result.stderr
    assert "service passwords: hotel_app" in result.stdout
    assert password not in result.stdout + result.stderr
    app = make_url(head_url).set(drivername="postgresql", username="hotel_app", password=password)
    with psycopg.connect(app.render_as_string(hide_password=False)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("hotel_app",)
    # Without the setting the role keeps its password: a sync must not lock the service out.
    again = hotel("roles", "sync", env={**analysts, "HOTEL_DATABASE_URL": head_url})
    assert again.returncode == 0, again.stderr
    with psycopg.connect(app.render_as_string(hide_password=False)) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("hotel_app",)
    # Leave the session's password in place for the tests that log in with it.
    restore = {**env, "HOTEL_APP_PASSWORD": get_settings_password()}
    assert hotel("roles", "sync", env=restore).returncode == 0


def get_settings_password() -> str:
    password = get_settings().resolved_app_password()
    assert password is not None
    return password
