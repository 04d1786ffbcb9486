"""`hotel roles sync` reconciles analyst logins on a migrated database."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, pool, text
from typer.testing import CliRunner

from deploy.cli import app
from hotel_models.settings import get_settings


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
