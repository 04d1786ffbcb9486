"""What the tests share besides fixtures: `hotel` run as a user runs it, and the check that a
user's mistake ends in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, pool, text

from deploy.cluster.topology import haproxy_config, local_topology

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# `python -m deploy` is the console script without relying on PATH (some tests narrow it).
HOTEL = [sys.executable, "-m", "deploy"]


def hotel_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without its HOTEL_* settings, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_")}
    return {**base, **(env or {})}


def run_hotel(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`hotel ARGS` in a subprocess, from the project root, with `hotel_env(env)`."""
    return subprocess.run(
        [*HOTEL, *args],
        capture_output=True,
        text=True,
        env=hotel_env(env),
        cwd=PROJECT_ROOT,
        timeout=timeout,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], exit_code: int = 1) -> str:
    """The one line a failed command printed on stderr (no traceback); fails otherwise."""
    assert result.returncode == exit_code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    line = one_line_error(result)
    for fragment in fragments:
        assert fragment in line, line


def table_hashes(url: str) -> dict[str, str]:
    """A content hash of every table seeding may write (row text, sorted): equal hashes,
    equal contents. (The migration ledger records when it ran, so it differs.)"""
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        tables = conn.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename NOT IN ('alembic_version', 'hotel_schema_history') ORDER BY 1"
            )
        ).scalars()
        hashes = {
            table: conn.execute(
                text(f"SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) "
                     f"FROM {table} t")
            ).scalar_one()
            for table in tables
        }  # fmt: skip
    engine.dispose()
    return hashes


def haproxy_check(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`haproxy -c` on the local stack's rendered haproxy.cfg, with `env` as its whole
    environment besides PATH (the config reads its settings from there)."""
    config = tmp_path / "haproxy.cfg"
    config.write_text(haproxy_config(local_topology(tmp_path, offset=20000)))
    return subprocess.run(
        ["haproxy", "-c", "-f", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin", **env},
    )
