"""A scratch platform for benchmarks: `hotel up` in a temporary state directory, as a user
would, and `hotel down --purge` afterwards. Through the command, not its code, so the packages
below deploy/ stay below it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url

HOTEL = [sys.executable, "-m", "deploy"]


@dataclass(frozen=True)
class Scratch:
    server: str  # superuser URL of the scratch server's `hotel` database
    env: dict[str, str]  # the environment `hotel` runs with: its own state dir, no HOTEL_* else

    def hotel(self, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run `hotel ARGS` against `url` (default: the server's database)."""
        env = {**self.env, "HOTEL_DATABASE_URL": url or self.server}
        return subprocess.run(
            [*HOTEL, *args], env=env, capture_output=True, text=True, check=True, timeout=3600
        )

    def timed(self, *args: str, url: str) -> tuple[float, float]:
        """`hotel ARGS` against `url` as its own process: seconds end to end and its peak RSS
        in MB (the benches' figures)."""
        env = {**self.env, "HOTEL_DATABASE_URL": url}
        started = time.perf_counter()
        process = subprocess.Popen([*HOTEL, *args], env=env, stdout=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            raise SystemExit(f"hotel {args[0]} failed with exit code {process.returncode}")
        return seconds, usage.ru_maxrss / 1024

    def tune_for_bulk_loads(self) -> None:
        """Checkpoints out of the way of a load (the same for every path a bench compares)."""
        engine = create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with engine.connect() as conn:
            conn.execute(text("ALTER SYSTEM SET max_wal_size = '8GB'"))
            conn.execute(text("ALTER SYSTEM SET checkpoint_timeout = '30min'"))
            conn.execute(text("SELECT pg_reload_conf()"))
        engine.dispose()

    def new_database(self, name: str, revision: str | None = "head") -> str:
        """A new database on the scratch server, migrated to `revision` (None: left empty)."""
        engine = create_engine(self.server, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        url = make_url(self.server).set(database=name).render_as_string(hide_password=False)
        if revision is not None:
            self.hotel("migrate", revision, url=url)
        return url


@contextmanager
def scratch_platform(
    prefix: str = "hotel-bench-",
    up: tuple[str, ...] = (),
    settings: dict[str, str] | None = None,
    under: str | None = None,
) -> Iterator[Scratch]:
    """`hotel up UP...` (e.g. `--ha`) with only `settings` among HOTEL_* variables, in a
    new state directory (under `under`: the HA stack's must be reachable by `postgres`)."""
    state = Path(tempfile.mkdtemp(prefix=prefix, dir=under))
    state.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOTEL_")}
    env.update(settings or {})
    env["HOTEL_STATE_DIR"] = str(state)
    try:
        started = subprocess.run(
            [*HOTEL, "up", *up], env=env, capture_output=True, text=True, timeout=900
        )
        if started.returncode != 0:
            said = (started.stderr.strip() or started.stdout.strip()).splitlines()
            raise SystemExit(f"hotel up {' '.join(up)} failed: {said[-1] if said else '?'}")
        yield Scratch((state / "database.url").read_text().strip(), env)
    finally:
        subprocess.run([*HOTEL, "down", "--purge"], env=env, capture_output=True, check=False)
        shutil.rmtree(state, ignore_errors=True)
