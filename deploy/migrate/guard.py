"""What a downgrade would destroy: the tables and columns that exist now but not at the target
revision and that hold data of their own.

The target's schema is found by migrating a scratch database to it (revision code is the only
truth of what a revision creates), then on to the current revision, so the rows the revisions
insert themselves (reference data) are told apart from the users' rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url

LEDGER_TABLES = {"alembic_version", "hotel_schema_history"}
# Columns of the tables that hold data (views, an extension's included, hold none).
COLUMNS = """SELECT c.table_name, c.column_name
             FROM information_schema.columns c JOIN information_schema.tables t
               ON t.table_schema = c.table_schema AND t.table_name = c.table_name
             WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE'"""


@contextmanager
def _scratch_database(url: str) -> Iterator[str]:
    """An empty database beside `url`'s (same server and role), dropped afterwards."""
    name = f"hotel_guard_{uuid.uuid4().hex[:12]}"
    admin = create_engine(
        make_url(url).set(database="postgres"),
        isolation_level="AUTOCOMMIT",
        poolclass=pool.NullPool,
    )
    quoted = admin.dialect.identifier_preparer.quote(name)
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {quoted}"))
    try:
        yield make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
        admin.dispose()


def _columns(conn: Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in conn.execute(text(COLUMNS)):
        found.setdefault(table, set()).add(column)
    return {t: c for t, c in found.items() if t not in LEDGER_TABLES}


def _count(conn: Connection, table: str) -> int:
    quoted = conn.dialect.identifier_preparer.quote(table)
    return int(conn.execute(text(f"SELECT count(*) FROM public.{quoted}")).scalar_one())


def data_lost_by_downgrade(url: str, config: Config, current: str, target: str) -> list[str]:
    """Tables that would be dropped with rows beyond the revisions' own, and columns that would
    be dropped from tables that have rows; [] when the downgrade loses nothing."""
    with _scratch_database(url) as scratch_url:
        scratch = Config(config.config_file_name)
        scratch.set_main_option("script_location", config.get_main_option("script_location") or "")
        scratch.attributes.update({**config.attributes, "url": scratch_url})
        command.upgrade(scratch, target)
        engine = create_engine(scratch_url, poolclass=pool.NullPool)
        with engine.connect() as conn:
            kept = _columns(conn)
        command.upgrade(scratch, current)
        with engine.connect() as conn:
            reference = {t: _count(conn, t) for t in _columns(conn) if t not in kept}
        engine.dispose()
    lost: list[str] = []
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        for table, columns in sorted(_columns(conn).items()):
            rows = _count(conn, table)
            if table not in kept:
                if rows > reference.get(table, 0):
                    lost.append(f"table {table} ({rows} rows)")
            elif rows and (gone := sorted(columns - kept[table])):
                lost.append(f"{table}.{', '.join(gone)} ({rows} rows)")
    engine.dispose()
    return lost
