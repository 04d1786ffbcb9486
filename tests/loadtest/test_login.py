"""The load generator logs in as hotel_app itself: no superuser session to return to."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psycopg
import pytest

from hotel_models.settings import get_settings
from loadtest.db import LoadError, Pool


def test_a_load_session_cannot_become_the_superuser(load_url: str) -> None:
    async def attempt() -> None:
        pool = Pool(load_url, 1)
        try:
            async with pool.connection() as conn:
                await conn.execute("RESET ROLE")
                who = await (
                    await conn.execute(
                        "SELECT session_user, current_user, rolsuper FROM pg_roles "
                        "WHERE rolname = session_user"
                    )
                ).fetchone()
                assert who == ("hotel_app", "hotel_app", False)
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    await conn.execute("SET ROLE postgres")
        finally:
            await pool.close()

    asyncio.run(attempt())


def test_without_the_service_password_the_load_says_how_to_get_one(
    load_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOTEL_APP_PASSWORD")
    monkeypatch.setenv("HOTEL_STATE_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.raises(LoadError, match="HOTEL_APP_PASSWORD"):
            Pool(load_url, 1)
    finally:
        get_settings.cache_clear()
