"""A deployment's migrate (compose `migrate`): the service logins follow the settings at every
run, also when there is nothing to migrate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from deploy.migrate import runner
from hotel_models.settings import get_settings


@pytest.fixture
def cleanup_logins(server_url: str) -> Iterator[None]:
    """Roles are cluster-wide: leave the monitoring login as the other tests expect it."""
    yield
    get_settings.cache_clear()
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS hotel_monitor")


def login(url: str, user: str, password: str) -> psycopg.Connection:
    dsn = make_url(url).set(drivername="postgresql", username=user, password=password)
    return psycopg.connect(dsn.render_as_string(False), autocommit=True)


def test_service_logins_follow_the_settings_at_every_migrate(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, cleanup_logins: None
) -> None:
    first, second, monitor = (uuid.uuid4().hex for _ in range(3))
    monkeypatch.setenv("HOTEL_APP_PASSWORD", first)
    monkeypatch.setenv("HOTEL_MONITOR_PASSWORD", monitor)
    get_settings.cache_clear()
    runner.migrate(empty_url, "head")
    with login(empty_url, "hotel_app", first) as conn:
        conn.execute("SELECT count(*) FROM bookings")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SET ROLE analytic")
    with login(empty_url, "hotel_monitor", monitor) as conn:
        conn.execute("SELECT count(*) FROM pg_stat_replication")
        conn.execute("SELECT count(*) FROM bookings")  # the db exporter's business metrics
        assert conn.execute("SELECT pg_has_role('pg_monitor', 'MEMBER')").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM bookings")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT password_hash FROM users")
    # Nothing left to migrate: the new password still applies, the old one no longer does.
    monkeypatch.setenv("HOTEL_APP_PASSWORD", second)
    get_settings.cache_clear()
    runner.migrate(empty_url, "head")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(empty_url, "hotel_app", first).close()
    login(empty_url, "hotel_app", second).close()
