"""A deployment's migrate (compose `migrate`): it only upgrades, and the service logins follow
the settings at every run, also when there is nothing to migrate."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from deploy import migrations
from deploy.errors import HotelError
from hotel_models.settings import get_settings


@pytest.fixture
def cleanup_logins(server_url: str) -> Iterator[None]:
    """Roles are cluster-wide: leave none behind for the other tests on this server."""
    yield
    get_settings.cache_clear()
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS hotel_load, hotel_monitor")


def login(url: str, user: str, password: str) -> psycopg.Connection:
    dsn = make_url(url).set(drivername="postgresql", username=user, password=password)
    return psycopg.connect(dsn.render_as_string(False), autocommit=True)


def test_upgrade_only_refuses_a_downgrade_and_changes_nothing(empty_url: str) -> None:
    head = migrations.migrate(empty_url, "head").after
    with pytest.raises(HotelError, match="refusing to downgrade"):
        migrations.migrate(empty_url, "0005", upgrade_only=True)
    assert migrations.current_revision(empty_url) == head
    assert migrations.migrate(empty_url, "head", upgrade_only=True).after == head


def test_service_logins_follow_the_settings_at_every_migrate(
    empty_url: str, monkeypatch: pytest.MonkeyPatch, cleanup_logins: None
) -> None:
    first, second, monitor = (uuid.uuid4().hex for _ in range(3))
    monkeypatch.setenv("HOTEL_LOAD_PASSWORD", first)
    monkeypatch.setenv("HOTEL_MONITOR_PASSWORD", monitor)
    get_settings.cache_clear()
    migrations.migrate(empty_url, "head")
    with login(empty_url, "hotel_load", first) as conn:
        # NOINHERIT: nothing until the session acts as the service (or as an analyst).
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM bookings")
        conn.execute("SET ROLE hotel_app")
        conn.execute("SELECT count(*) FROM bookings")
        conn.execute("SET ROLE analytic")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM bookings")
    with login(empty_url, "hotel_monitor", monitor) as conn:
        conn.execute("SELECT count(*) FROM pg_stat_replication")
        assert conn.execute("SELECT pg_has_role('pg_monitor', 'MEMBER')").fetchone() == (True,)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM bookings")
    # Nothing left to migrate: the new password still applies, the old one no longer does.
    monkeypatch.setenv("HOTEL_LOAD_PASSWORD", second)
    get_settings.cache_clear()
    migrations.migrate(empty_url, "head")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        login(empty_url, "hotel_load", first).close()
    login(empty_url, "hotel_load", second).close()
