"""One migrator at a time: a session-level advisory lock held for the whole run.

pg_try_advisory_lock in a retry loop, not the blocking pg_advisory_lock: a session blocked on
the lock while another migration builds an index CONCURRENTLY would make that build wait for
it (CIC waits for every older transaction), and the two would deadlock.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, create_engine, pool, text

from deploy.process import wait_until
from hotel_models.errors import HotelError

# Any fixed bigint: 'hotelmig' in ASCII, so it is recognisable in pg_locks.
LOCK_KEY = int.from_bytes(b"hotelmig", "big") & 0x7FFFFFFFFFFFFFFF
POLL_SECONDS = 0.5


def lock_holder(connection: Connection) -> str:
    row = connection.execute(
        text(
            "SELECT a.pid, a.usename, a.client_addr, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = (:key >> 32)::oid AND l.objid = (:key & 4294967295)::oid"
        ),
        {"key": LOCK_KEY},
    ).first()
    if row is None:
        return "pid unknown"
    since = row.backend_start.strftime("%Y-%m-%d %H:%M:%S %Z")
    return f"pid {row.pid}, role {row.usename}, since {since}"


@contextmanager
def migration_lock(
    url: str, wait_seconds: float, on_wait: Callable[[str], None] = print
) -> Iterator[None]:
    engine = create_engine(
        url, poolclass=pool.NullPool, connect_args={"application_name": "hotel migrate (lock)"}
    )
    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT")

            def acquired() -> bool:
                lock = text("SELECT pg_try_advisory_lock(:key)")
                return bool(conn.execute(lock, {"key": LOCK_KEY}).scalar_one())

            if not acquired():
                on_wait(f"waiting for another migration ({lock_holder(conn)})")
                if not wait_until(acquired, wait_seconds, POLL_SECONDS):
                    raise HotelError(
                        f"another migration is still running ({lock_holder(conn)}) after "
                        f"{wait_seconds:g} s: try again when it ends "
                        "(HOTEL_MIGRATION_LOCK_WAIT sets the wait)"
                    )
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": LOCK_KEY})
    finally:
        engine.dispose()
