"""What a restored database must satisfy, and the row counts a backup is compared against.

`verify_restored` is the one entry point the restore checks call: every table readable, no
constraint left unvalidated, every business rule (hotel_models.checker, the same checker that
vouches for bulk-seeded data) and pg_amcheck over heaps and B-trees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import create_engine, pool
from sqlalchemy.engine import make_url

from deploy.backup.context import libpq_env
from deploy.embedded import find_bin_dir
from hotel_models.checker import check

TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
"""

CONSTRAINTS_VALID = """
SELECT conrelid::regclass || '.' || conname FROM pg_constraint c
JOIN pg_namespace n ON n.oid = c.connamespace
WHERE n.nspname = 'public' AND NOT c.convalidated
"""
EXCLUSION = "SELECT 1 FROM pg_constraint WHERE conname = 'ex_bookings_no_overlap'"


def table_counts(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Exact `count(*)` of every table in public (also proves every heap is readable)."""
    counts: dict[str, int] = {}
    for (name,) in conn.execute(TABLES).fetchall():
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(str(name)))
        row = conn.execute(query).fetchone()
        counts[str(name)] = int(row[0]) if row else 0
    return counts


def compare_counts(expected: dict[str, int], actual: dict[str, int]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want != got:
            problems.append(f"{table}: {got} rows restored, {want} at the backup point")
    return problems


def verify_restored(url: str) -> list[str]:
    """Integrity of a restored database: every table readable, no constraint left unvalidated,
    the exclusion constraint present where bookings exist, every business rule holds, and
    pg_amcheck finds no corrupt heap or B-tree. Returns the problems (empty: good)."""
    problems: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = set(table_counts(conn))
        for (name,) in conn.execute(CONSTRAINTS_VALID).fetchall():
            problems.append(f"constraint {name} is not validated")
        if "bookings" in tables and conn.execute(EXCLUSION).fetchone() is None:
            problems.append("bookings lost its no-overlap exclusion constraint")
    problems.extend(business_rules(url))
    problems.extend(amcheck(url))
    return problems


def business_rules(url: str) -> list[str]:
    """The business-rule checker over the restored database (at whatever revision it is)."""
    engine = create_engine(
        make_url(url).set(drivername="postgresql+psycopg"), poolclass=pool.NullPool
    )
    try:
        with engine.connect() as conn:
            return [str(violation) for violation in check(conn)]
    finally:
        engine.dispose()


def amcheck(url: str) -> list[str]:
    """pg_amcheck over heaps and B-trees (installs the amcheck extension in the scratch copy)."""
    binary = find_bin_dir() / "pg_amcheck"
    if not binary.is_file() and not shutil.which("pg_amcheck"):
        return []
    env = {**os.environ, **libpq_env(url)}
    argv = [str(binary if binary.is_file() else "pg_amcheck"), "--install-missing"]
    argv += ["-d", env["PGDATABASE"] or "postgres"]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=Path("/"), env=env)
    if done.returncode == 0:
        return []
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return [f"pg_amcheck: {lines[0] if lines else f'exit {done.returncode}'}"]
