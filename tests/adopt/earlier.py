"""The earlier system's database the adoption tests start from: its schema, its analysts and a
privileged member of its `analytic`, and dirty data of its kind."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date

from sqlalchemy import create_engine, pool

from seeding.adopt.fixture import Sizes, fill
from seeding.adopt.legacy_schema import create_earlier_schema

TODAY = date(2030, 6, 1)  # fixed: the generated dates and the legacy queries agree
# Roles are cluster-wide: names of this session only.
ANALYSTS = [f"old_ann_{uuid.uuid4().hex[:6]}", f"old_bob_{uuid.uuid4().hex[:6]}"]
# A member of the earlier `analytic` that is more than an analyst: adoption leaves it alone.
PRIVILEGED = f"old_dba_{uuid.uuid4().hex[:6]}"


def earlier_database(
    database_factory: Callable[[], str], bookings: int = 3000, version: int = 5
) -> str:
    url = database_factory()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        create_earlier_schema(conn, ANALYSTS, version=version)
        conn.exec_driver_sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{PRIVILEGED}') "
            f"THEN CREATE ROLE {PRIVILEGED} LOGIN CREATEROLE IN ROLE analytic; END IF; END $$"
        )
        if version == 5:
            fill(conn, Sizes(bookings), seed=7, today=TODAY)
    engine.dispose()
    return url
