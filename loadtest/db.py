"""Connections of the load generator: a small asyncio pool per DSN, and what a database
error means for a simulated user (retry, conflict or error)."""

from __future__ import annotations

import asyncio
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal, Self

import psycopg
from sqlalchemy.engine import URL, make_url

from hotel_models.errors import CONSTRAINTS, HotelError
from hotel_models.roles import HOTEL_APP, login_url
from hotel_models.settings import get_settings, libpq_url

APPLICATION_NAME = "hotel-load"
# Lost connection, read-only (a demoted primary), admin/crash shutdown, cannot connect now,
# serialization failure and deadlock: the request was not applied, or is idempotent: retry.
RETRYABLE = {"25006", "57P01", "57P02", "57P03", "40001", "40P01"}
# Rule refusals: conflicts a real user meets, counted apart from errors.
CONFLICT_STATES = {"23P01", "23505", "23514", "23001"}

Outcome = Literal["retry", "conflict", "error"]


class LoadError(HotelError):
    """Something the user can fix (bad option, unreachable or unseeded database)."""


class Abandoned(Exception):
    """A wait for a connection given up because the run is stopping: nothing was sent."""


def unreachable(exc: psycopg.OperationalError) -> LoadError:
    """What to say when a DSN cannot be reached: the first line of libpq's reason."""
    return LoadError(f"cannot reach the database: {str(exc).strip().splitlines()[0]}")


def classify(exc: BaseException) -> tuple[Outcome, str]:
    """(what to do, SQLSTATE class or "conn") for an exception raised by a step."""
    if not isinstance(exc, psycopg.Error):
        return "error", "client"
    state = exc.sqlstate
    if state is None or state.startswith("08"):
        return "retry", "conn"
    if state in RETRYABLE:
        return "retry", state[:2]
    constraint = exc.diag.constraint_name
    if constraint in CONSTRAINTS or state in CONFLICT_STATES:
        return "conflict", state[:2]
    return "error", state[:2]


def login_as(url: str, role: str) -> str:
    """`url` logged in as `role` itself, with its own password (HOTEL_APP_PASSWORD, or the one
    `hotel up` generated): a session that logged in as the superuser and SET ROLE could RESET
    ROLE back. A URL that already names `role` is used as it is."""
    if make_url(url).username == role:
        return url
    password = get_settings().resolved_app_password() if role == HOTEL_APP else None
    if password is None:
        raise LoadError(
            f"{role} has no password here: set HOTEL_APP_PASSWORD (`hotel up` generates one) "
            "and run `hotel roles sync`, or give the load a DSN of that role"
        )
    return login_url(url, role, password)


def client_env(url: str | URL) -> dict[str, str]:
    """This process's environment with libpq's PG* settings for `url`: how pgbench is told
    where to connect, the password kept off its command line."""
    u = make_url(url)
    return {
        **os.environ,
        "PGPASSWORD": u.password or "",
        "PGHOST": u.host or "127.0.0.1",
        "PGPORT": str(u.port or 5432),
        "PGUSER": u.username or "postgres",
        "PGDATABASE": u.database or "",
    }


class LoadConnection(psycopg.AsyncConnection[tuple[Any, ...]]):
    """A session of the load that keeps its cursors: conn.execute() makes a new cursor, with
    its own adapters, per statement, which costs this process about a fifth of a `SELECT 1`
    round trip. A connection serves one step at a time, so its cursors are never shared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._kept: list[psycopg.AsyncCursor[tuple[Any, ...]]] = []

    @classmethod
    async def open(cls, conninfo: str) -> Self:
        """A session as the load opens it: autocommit, named, without JIT."""
        return await cls.connect(
            conninfo,
            autocommit=True,
            application_name=APPLICATION_NAME,
            connect_timeout=5,
            # The search's nights (generate_series) look like 1000 rows to a plan made
            # without its dates, and the planner JIT-compiles a 3 ms search for ~180 ms;
            # the service needs the same setting.
            options="-c jit=off",
        )

    def cursors(self, n: int) -> list[psycopg.AsyncCursor[tuple[Any, ...]]]:
        """The first `n` kept cursors (made on first use)."""
        while len(self._kept) < n:
            self._kept.append(self.cursor())
        return self._kept[:n]

    async def run(self, sql: str, params: dict[str, Any]) -> psycopg.AsyncCursor[tuple[Any, ...]]:
        """execute() on the first kept cursor."""
        return await self.cursors(1)[0].execute(sql, params)


class Pool:
    """A fixed number of connections handed out LIFO to waiters served in arrival order; a
    broken one is replaced on next use. Sessions log in as `role` (the service's
    least-privilege role). A run that stops can abandon the waits that may be abandoned
    (`abandon_waiting`): those steps never reached the server."""

    def __init__(self, url: str, size: int, role: str | None = HOTEL_APP) -> None:
        self.conninfo = libpq_url(login_as(url, role) if role else url)
        self.role = role
        self._idle: list[LoadConnection | None] = [None] * size
        self._waiting: deque[tuple[asyncio.Future[LoadConnection | None], bool]] = deque()

    async def _connect(self) -> LoadConnection:
        return await LoadConnection.open(self.conninfo)

    async def _acquire(self, abandonable: bool) -> LoadConnection | None:
        if self._idle:  # a connection is idle only when nobody waits
            return self._idle.pop()
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append((waiter, abandonable))
        try:
            return await waiter
        except asyncio.CancelledError:
            # Handed a connection just as the task was cancelled: pass it on.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())
            raise

    def _release(self, conn: LoadConnection | None) -> None:
        while self._waiting:
            waiter, _ = self._waiting.popleft()
            if not waiter.done():  # a cancelled or abandoned wait is skipped
                waiter.set_result(conn)
                return
        self._idle.append(conn)

    def abandon_waiting(self) -> int:
        """Fail every abandonable wait for a connection with `Abandoned`; how many."""
        kept: deque[tuple[asyncio.Future[LoadConnection | None], bool]] = deque()
        abandoned = 0
        for waiter, abandonable in self._waiting:
            if waiter.done():
                continue
            if abandonable:
                waiter.set_exception(Abandoned())
                abandoned += 1
            else:
                kept.append((waiter, abandonable))
        self._waiting = kept
        return abandoned

    @asynccontextmanager
    async def connection(self, abandonable: bool = False) -> AsyncIterator[LoadConnection]:
        conn = await self._acquire(abandonable)
        try:
            if conn is None or conn.closed:
                conn = await self._connect()
            yield conn
        except BaseException as exc:
            # After a transient error reconnect: the DSN may now lead to the new primary.
            transient = isinstance(exc, psycopg.Error) and classify(exc)[0] == "retry"
            if conn is not None and (conn.broken or transient or not isinstance(exc, Exception)):
                await conn.close()
                conn = None
            raise
        finally:
            self._release(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            if conn is not None:
                await conn.close()


def wait_for_data(url: str, timeout: float, say: Callable[[str], None]) -> None:
    """Until the database is migrated and has bookings, as the load's sessions see it: the
    compose `load` starts beside `seed`, which commits once at the end."""
    deadline = time.monotonic() + timeout
    said = False
    while True:
        try:
            with psycopg.connect(libpq_url(login_as(url, HOTEL_APP)), connect_timeout=5) as conn:
                if conn.execute("SELECT EXISTS (SELECT FROM bookings)").fetchone() == (True,):
                    return
        except (psycopg.OperationalError, psycopg.errors.UndefinedTable):
            pass  # not reachable or not migrated yet
        except psycopg.Error as exc:  # a wrong role or password will not fix itself
            raise LoadError(f"database error: {str(exc).strip().splitlines()[0]}") from exc
        if time.monotonic() > deadline:
            raise LoadError(f"no seeded data after {timeout:g} s: run `hotel seed` first")
        if not said:
            say("waiting for seeded data (bookings)")
            said = True
        time.sleep(2)
