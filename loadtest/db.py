"""Connections of the load generator: a small asyncio pool per DSN, and what a database
error means for a simulated user (retry, conflict or error)."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, Self

import psycopg
from psycopg import pq
from psycopg.adapt import PyFormat, Transformer
from psycopg.pq import ExecStatus
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


# A load statement's placeholders: %(name)s, and %% for a literal percent sign.
PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s")
# A statement prepared in a session: its server form's SQL and its parameters' types.
StatementKey = tuple[bytes, tuple[int, ...]]


@dataclass(frozen=True, slots=True)
class ServerForm:
    """A load statement as the server prepares it: `$n` placeholders, the names they bind
    and how psycopg is to dump them (its default for %(name)s)."""

    sql: bytes
    names: tuple[str, ...]
    formats: tuple[PyFormat, ...]


@cache
def server_form(sql: str) -> ServerForm:
    names: list[str] = []

    def place(match: re.Match[str]) -> str:
        name = match.group(1)
        if name is None:
            return "%"
        if name not in names:
            names.append(name)
        return f"${names.index(name) + 1}"

    server_sql = PLACEHOLDER.sub(place, sql).encode()
    return ServerForm(server_sql, tuple(names), (PyFormat.AUTO,) * len(names))


class Result:
    """One statement's answer; its rows become Python only when asked (a page the user only
    looks at needs no conversion, as pgbench converts nothing)."""

    __slots__ = ("_conn", "_result")

    def __init__(self, conn: LoadConnection, result: pq.abc.PGresult) -> None:
        self._conn, self._result = conn, result

    def rows(self) -> list[tuple[Any, ...]]:
        if self._result.status != ExecStatus.TUPLES_OK:
            return []
        loader = self._conn.loader
        loader.set_pgresult(self._result)
        return loader.load_rows(0, self._result.ntuples, tuple)

    @property
    def rowcount(self) -> int:
        return self._result.command_tuples or 0


class LoadConnection(psycopg.AsyncConnection[tuple[Any, ...]]):
    """A session of the load. Its steps go through `run_all`, a lean path on libpq's pipeline
    mode: psycopg's cursors cost this process 2.4 times the CPU for a three-statement page
    (183 against 75 us a round trip, rows not converted), and the harness's CPU competes
    with the server's on a small machine. A connection serves one step at a time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.loader = Transformer(self)
        self._dumper = Transformer(self)
        self._statements: dict[StatementKey, bytes] = {}  # -> its name
        self._statement_names = itertools.count()

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

    async def run(self, sql: str, params: Mapping[str, Any]) -> Result:
        """One statement, as run_all()."""
        return (await self.run_all([(sql, params)]))[0]

    async def run_all(self, statements: Sequence[tuple[str, Mapping[str, Any]]]) -> list[Result]:
        """The statements in one round trip, each prepared on its first run in this session.
        The session is in autocommit, so everything up to the pipeline's one Sync runs as
        one implicit transaction: all or nothing. Raises the first statement's error as
        psycopg's exception. A preparation the server never ran (its pipeline aborted
        before it) is not recorded, so it is sent again next time. Interrupted (a lost
        connection, a cancelled task) the session is closed: its state is unknown."""
        pg = self.pgconn
        pending: list[tuple[StatementKey, bytes] | None] = []  # per result: a preparation?
        pg.enter_pipeline_mode()
        try:
            for sql, params in statements:
                form = server_form(sql)
                values = self._dumper.dump_sequence(
                    [params[name] for name in form.names], form.formats
                )
                types = tuple(self._dumper.types or ())
                key = (form.sql, types)
                name = self._statements.get(key)
                if name is None:
                    name = b"load_%d" % next(self._statement_names)
                    pg.send_prepare(name, form.sql, types)
                    pending.append((key, name))
                pg.send_query_prepared(name, values, self._dumper.formats)
                pending.append(None)
            pg.pipeline_sync()
            results, error = await self._read(pending)
            pg.exit_pipeline_mode()
        except BaseException:
            pg.finish()
            raise
        if error is not None:
            raise psycopg.errors.error_from_result(error, encoding=self.info.encoding)
        return results

    async def _read(
        self, pending: list[tuple[StatementKey, bytes] | None]
    ) -> tuple[list[Result], pq.abc.PGresult | None]:
        pg = self.pgconn
        while pg.flush():  # the rest waits for the socket to take it
            await self._ready(write=True)
            pg.consume_input()
        results: list[Result] = []
        error = None
        for preparing in pending:  # one result per statement sent
            result = await self._next()
            if result.status == ExecStatus.FATAL_ERROR and error is None:
                error = result
            if preparing is None:
                results.append(Result(self, result))
            elif result.status == ExecStatus.COMMAND_OK:
                self._statements[preparing[0]] = preparing[1]
        await self._next()  # the Sync's
        return results, error

    async def _next(self) -> pq.abc.PGresult:
        """The next result; libpq ends each statement's results with None."""
        pg = self.pgconn
        while True:
            while pg.is_busy():
                await self._ready()
                pg.consume_input()
            result = pg.get_result()
            if result is not None:
                return result

    async def _ready(self, write: bool = False) -> None:
        """Until the socket can be written (or read)."""
        loop = asyncio.get_running_loop()
        fd, ready = self.pgconn.socket, loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        if write:
            loop.add_writer(fd, wake)
        else:
            loop.add_reader(fd, wake)
        try:
            await ready
        finally:
            (loop.remove_writer if write else loop.remove_reader)(fd)


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
