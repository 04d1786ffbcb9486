"""`hotel backup bench` / `python -m deploy.backup.bench`: how long a full backup, a verified
restore and a PITR take on a database with bulk data.

The bulk data is a scratch table filled by generate_series (~100 bytes a row): it exercises
the file copying, compression and WAL replay, though not the schema's indexes. On a database
seeded with `hotel seed --scale large` the same command measures the real schema.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from rich.console import Console
from rich.table import Table

from deploy.backup import physical
from deploy.backup.context import BackupContext, context_from_settings
from deploy.backup.integrity import verify_restored
from deploy.process import chown_to_server_user

BULK = """
CREATE TABLE IF NOT EXISTS bench_bulk (
    id bigint PRIMARY KEY, room_id int NOT NULL, check_in date NOT NULL,
    total numeric(12, 2) NOT NULL, note text NOT NULL)
"""
FILL = """
INSERT INTO bench_bulk
SELECT g, g %% 5000, date '2026-01-01' + (g %% 365), (g %% 997) * 1.5, md5(g::text)
FROM generate_series(1, %s) AS g
"""


def run_bench(ctx: BackupContext, rows: int, console: Console) -> dict[str, float]:
    figures: dict[str, float] = {}
    with psycopg.connect(ctx.primary_url(), autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bulk")
        conn.execute(BULK)
        started = time.monotonic()
        conn.execute(FILL, [rows])
        figures["bulk load (s)"] = time.monotonic() - started
        row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
        figures["database size (MiB)"] = (row[0] if row else 0) / 1048576

    with console.status("full backup"):
        result = physical.create(ctx, "full")
    figures["full backup (s)"] = result.duration_seconds
    figures["full backup repo size (MiB)"] = result.size_bytes / 1048576

    with console.status("verify: restore + checks"):
        _, problems, seconds = physical.verify(ctx, result.label)
    figures["verified restore (s)"] = seconds
    if problems:
        console.print(f"[red]verify problems[/]: {problems}")

    with psycopg.connect(ctx.primary_url(), autocommit=True) as conn:
        conn.execute("UPDATE bench_bulk SET total = total + 1 WHERE id % 10 = 0")
        target = datetime.now(UTC)
        conn.execute("UPDATE bench_bulk SET total = total + 1 WHERE id % 10 = 1")
        row = conn.execute("SELECT pg_switch_wal()").fetchone()
        physical.wait_archived(conn, str(row[0] if row else ""))
    with tempfile.TemporaryDirectory(dir=ctx.home) as scratch:
        chown_to_server_user(Path(scratch))
        started = time.monotonic()
        with console.status("PITR"):
            instance = physical.pitr(ctx, Path(scratch) / "pitr", target)
        try:
            figures["PITR restore + replay (s)"] = time.monotonic() - started
            figures["PITR integrity problems"] = len(verify_restored(instance.url()))
        finally:
            instance.remove()

    table = Table(title=f"backup bench ({rows:,} bulk rows)")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name, f"{value:.1f}")
    console.print(table)
    return figures


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_500_000
    run_bench(context_from_settings(), rows, Console())


if __name__ == "__main__":
    main()
