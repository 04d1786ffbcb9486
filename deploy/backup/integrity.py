"""What a restored database must satisfy, and the row counts a backup is compared against.

`verify_restored` is the one entry point the restore checks call; it is meant to be pointed
at the business-rule checker (seeding/checker.py) once that lands: keep its signature.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from deploy.embedded import find_bin_dir

TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1
"""

# The key business invariants as plain SQL, each returning the number of offending rows.
# Guarded by to_regclass so a database without the schema (or at an older revision) passes.
INVARIANTS = {
    "no overlapping live bookings": """
        SELECT count(*) FROM bookings a JOIN bookings b
          ON a.room_id = b.room_id AND a.id < b.id
         AND daterange(a.check_in, a.check_out, '[)') && daterange(b.check_in, b.check_out, '[)')
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'
    """,
    "bonus balances equal their ledger sums": """
        SELECT count(*) FROM bonus_accounts a
        LEFT JOIN (SELECT account_id, sum(amount) AS total FROM bonus_transactions
                   GROUP BY account_id) t ON t.account_id = a.id
        WHERE a.balance <> coalesce(t.total, 0)
    """,
}
NEEDS = {
    "no overlapping live bookings": ("bookings",),
    "bonus balances equal their ledger sums": ("bonus_accounts", "bonus_transactions"),
}
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
    the exclusion constraint present where bookings exist, the invariants hold, and
    pg_amcheck finds no corrupt heap or B-tree. Returns the problems (empty: good)."""
    problems: list[str] = []
    with psycopg.connect(url, autocommit=True) as conn:
        tables = set(table_counts(conn))
        for (name,) in conn.execute(CONSTRAINTS_VALID).fetchall():
            problems.append(f"constraint {name} is not validated")
        if "bookings" in tables and conn.execute(EXCLUSION).fetchone() is None:
            problems.append("bookings lost its no-overlap exclusion constraint")
        for what, query in INVARIANTS.items():
            if not set(NEEDS[what]) <= tables:
                continue
            row = conn.execute(query).fetchone()
            if row and row[0]:
                problems.append(f"{what}: {row[0]} offending rows")
    problems.extend(amcheck(url))
    return problems


def amcheck(url: str) -> list[str]:
    """pg_amcheck over heaps and B-trees (installs the amcheck extension in the scratch copy)."""
    binary = find_bin_dir() / "pg_amcheck"
    if not binary.is_file() and not shutil.which("pg_amcheck"):
        return []
    params = conninfo_to_dict(url)
    env = {
        **os.environ,
        "PGHOST": str(params.get("host", "")),
        "PGPORT": str(params.get("port", "")),
        "PGUSER": str(params.get("user", "")),
        "PGPASSWORD": str(params.get("password", "")),
    }
    argv = [str(binary if binary.is_file() else "pg_amcheck"), "--install-missing"]
    argv += ["-d", str(params.get("dbname", "postgres"))]
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=Path("/"), env=env)
    if done.returncode == 0:
        return []
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return [f"pg_amcheck: {lines[0] if lines else f'exit {done.returncode}'}"]
