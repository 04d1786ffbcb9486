"""Identifiers from operators' strings are quoted: a database name cannot smuggle in SQL."""

from __future__ import annotations

import uuid

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

from tests.helpers import run_hotel as hotel


def test_a_database_name_cannot_give_the_database_away(server_url: str) -> None:
    """Unquoted, `CREATE DATABASE "{name}"` with this name made a database owned by hotel_app."""
    plain = f"sec_{uuid.uuid4().hex[:8]}"
    name = f'{plain}" OWNER "hotel_app'
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    result = hotel("cluster", "wait-primary", "--timeout", "20", env={"HOTEL_DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    try:
        with admin.connect() as conn:
            names = conn.execute(
                text("SELECT datname FROM pg_database WHERE datname LIKE :p"), {"p": plain + "%"}
            ).scalars()
            assert list(names) == [name]  # the literal name, nothing else
            conn.execute(text(f'DROP DATABASE "{name.replace(chr(34), chr(34) * 2)}"'))
    finally:
        admin.dispose()
