"""`hotel seed`: fill a migrated database at scale through COPY, in one transaction.

- Revision-aware: it reflects which tables and columns exist and fills those (a table of a
  later revision is skipped, a missing column is left out); it refuses a database without
  the hotel tables.
- Valid by construction (seeding.plan). The rule triggers are per row and cost more than
  the COPY itself, so the loader disables USER triggers on the tables it loads (inside its
  transaction; re-enabled before commit, so other sessions never see them off) and writes
  what they would have written.
- Empty database: like a restore, the tables it fills are truncated (in the transaction, so
  `COPY ... FREEZE` writes rows already frozen), their indexes, keys, the no-overlap
  exclusion and the foreign keys are dropped, the data is loaded, and all of them are built
  again from their catalog definitions, every rule checked in one pass (seeding.deferred).
  `--append` keeps them all on: keys, foreign keys, CHECKs and the exclusion check every row.
- Audit: seeding writes no per-row audit_log rows. The audit history records business
  activity by the service's roles; generated data is not that, and millions of audit rows
  would only hide real ones. `--append` adds to a database that may be live, so it leaves
  one row per table it wrote (operation INSERT, `row_pk` the range of ids, `new_row` the
  count and the seed): who added generated rows, when, and which ones.
- Locks: DISABLE TRIGGER USER takes SHARE ROW EXCLUSIVE on every table it loads (ACCESS
  EXCLUSIVE on an empty database, which it truncates), which every write conflicts with. It
  waits at most HOTEL_SEED_LOCK_TIMEOUT for each: behind an open transaction of the live
  service it fails in one line and writes nothing, instead of queueing the service's writes
  behind its own wait.
- One transaction: a failed or interrupted run leaves the database as it was.
- Streaming: a producer thread generates chunks of rows (bounded queue) while the main
  thread COPYs the previous chunk, so Python and PostgreSQL work at the same time on the
  two cores, and memory stays bounded whatever the scale.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import NamedTuple

from sqlalchemy import Connection, Engine, create_engine, pool, text
from sqlalchemy.exc import OperationalError

from hotel_models import rollups
from hotel_models.checker import existing_columns
from hotel_models.settings import get_settings
from seeding import deferred
from seeding.errors import SeedError
from seeding.identity import identity_past_max
from seeding.plan import (
    AMENITIES,
    CHUNK_TABLES,
    COLUMNS,
    FACILITIES,
    PARTNER_TYPES,
    PAYMENT_METHODS,
    SCALES,
    Counts,
    Lines,
    Offsets,
    Planner,
    Refs,
    generate,
)
from seeding.pools import check_locale

REQUIRED = ("partner_types", "partners", "hotels")
# Tables finish() updates after the COPY: their indexes are built after that.
UPDATED_AFTER = ("hotels", "bonus_accounts")
# Tables that may hold rows right after migrating (0011 inserts the loyalty settings).
PRESEEDED = frozenset({"loyalty_config", "partner_types", "payment_methods", "amenities",
                       "facilities"})  # fmt: skip

Progress = Callable[[str, int, float], None]  # table, rows just written, rows/s so far


@dataclass
class TableStat:
    table: str
    rows: int = 0
    seconds: float = 0.0

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


@dataclass
class LoadResult:
    revision: str | None
    tables: dict[str, TableStat] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.tables.values())


def validate(counts: Counts) -> None:
    for name in ("hotels", "rooms", "users", "bookings"):
        value = getattr(counts, name)
        if value < 1:
            raise SeedError(f"--{name} must be a positive number, not {value}")


def revision_of(conn: Connection, tables: dict[str, set[str]]) -> str | None:
    if "alembic_version" not in tables:
        return None
    return conn.execute(text("SELECT max(version_num) FROM alembic_version")).scalar()


def _reference_ids(
    conn: Connection, table: str, key: str, rows: list[tuple[str, ...]]
) -> list[int]:
    """Insert the shared reference rows unless present; their ids, in the given order."""
    columns = COLUMNS[table][1:]
    placeholders = ", ".join(f":{c}" for c in columns)
    conn.execute(
        text(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders}) "
            f"ON CONFLICT ({key}) DO NOTHING"
        ),
        [dict(zip(columns, row, strict=True)) for row in rows],
    )
    ids: dict[str, int] = dict(conn.execute(text(f"SELECT {key}, id FROM {table}")).all())
    return [ids[row[0]] for row in rows]


def filled_tables(tables: dict[str, set[str]]) -> list[str]:
    """The tables the plan fills with COPY (not the shared reference rows)."""
    return [t for t in COLUMNS if t in tables and t not in PRESEEDED]


def prepare(
    conn: Connection, append: bool, disable_triggers: bool = False
) -> tuple[dict[str, set[str]], Refs, Offsets, Decimal]:
    """Check the database can be filled; reference ids, id offsets and the earn rate.
    With disable_triggers, USER triggers are off on every table it will write (from the
    reference rows on) until load() turns them on again before committing. Without
    append, the tables it fills are locked before they are found empty (load() may
    truncate them)."""
    tables = existing_columns(conn)
    missing = [t for t in REQUIRED if t not in tables]
    if missing:
        revision = revision_of(conn, tables) or "empty"
        raise SeedError(
            f"the database is not migrated (revision {revision}, no table {missing[0]}): "
            "run `hotel migrate` first"
        )
    if disable_triggers:
        owner = conn.execute(
            text(
                "SELECT rolsuper OR pg_has_role(current_user, "
                "(SELECT relowner FROM pg_class WHERE oid = 'hotels'::regclass), 'USAGE') "
                "FROM pg_roles WHERE rolname = current_user"
            )
        ).scalar()
        if not owner:
            raise SeedError(
                "hotel seed needs the migrating DSN (owner of the tables or a superuser): "
                "it turns the rule triggers off while it loads"
            )
    if not append and disable_triggers:
        filling = filled_tables(tables)
        with _lock_wait(conn, ", ".join(filling)):
            conn.execute(text(f"LOCK TABLE {', '.join(filling)} IN ACCESS EXCLUSIVE MODE"))
    if not append:
        filled = [
            t for t in COLUMNS if t in tables and t not in PRESEEDED
            and conn.execute(text(f"SELECT EXISTS (SELECT FROM {t})")).scalar()
        ]  # fmt: skip
        if filled:
            raise SeedError(
                f"the database already has data (table {filled[0]} is not empty): "
                "use --append to add to it, or seed an empty database"
            )
    if disable_triggers:
        for table in COLUMNS:
            if table in tables:
                with _lock_wait(conn, table):
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
    refs = Refs(
        partner_types=_reference_ids(conn, "partner_types", "code", [*PARTNER_TYPES]),
        payment_methods=(
            _reference_ids(conn, "payment_methods", "code", [*PAYMENT_METHODS])
            if "payment_methods" in tables else []
        ),
        amenities=(
            _reference_ids(conn, "amenities", "name", [(a,) for a in AMENITIES])
            if "amenities" in tables else []
        ),
        facilities=(
            _reference_ids(conn, "facilities", "name", [(f,) for f in FACILITIES])
            if "facilities" in tables else []
        ),
    )  # fmt: skip
    offsets = Offsets(
        {
            t: conn.execute(text(f"SELECT coalesce(max(id), 0) FROM {t}")).scalar_one()
            for t in COLUMNS
            if t in tables and "id" in tables[t]
        }
    )
    earn = Decimal(5)
    if "loyalty_config" in tables:
        earn = conn.execute(text("SELECT earn_percent FROM loyalty_config")).scalar() or earn
    return tables, refs, offsets, earn


@contextmanager
def _lock_wait(conn: Connection, tables: str) -> Iterator[None]:
    """A lock not granted within lock_timeout: one line, the transaction rolled back."""
    timeout = conn.execute(text("SHOW lock_timeout")).scalar()
    try:
        yield
    except OperationalError as exc:
        if getattr(exc.orig, "sqlstate", None) != "55P03":  # lock_not_available
            raise
        raise SeedError(
            f"{tables}: locked by another session for over {timeout} (HOTEL_SEED_LOCK_TIMEOUT): "
            "nothing was written; seed when it is done, or stop what holds the lock"
        ) from None


def record_append(
    conn: Connection, tables: dict[str, set[str]], result: LoadResult, offsets: Offsets, seed: int
) -> None:
    """One audit row per table an append wrote: its id range, row count and seed."""
    for stat in result.tables.values():
        if "id" not in tables.get(stat.table, ()) or stat.rows == 0:
            continue
        first = offsets.of(stat.table) + 1
        last = conn.execute(text(f"SELECT max(id) FROM {stat.table}")).scalar()
        conn.execute(
            text(
                "INSERT INTO audit_log (table_name, operation, row_pk, new_row) "
                "VALUES (:table, 'INSERT', :pk, :row)"
            ),
            {
                "table": stat.table,
                "pk": json.dumps({"id": [first, last]}),
                "row": json.dumps({"seeded_rows": stat.rows, "seed": seed, "by": "hotel seed"}),
            },
        )


def _encode(lines: Lines, picks: list[int] | None) -> bytes:
    """The plan's lines as one COPY payload; with picks, only those columns (a database at
    an earlier revision: the slow path, for small seeds)."""
    if picks is not None:
        lines = ["\t".join([v[i] for i in picks]) + "\n" for v in map(_split, lines)]
    return "".join(lines).encode()


def _split(line: str) -> list[str]:
    return line[:-1].split("\t")


class Encoded(NamedTuple):
    """One batch in COPY text format, ready to send."""

    table: str
    rows: int
    data: bytes
    columns: list[str]


_DONE = object()


def _produce(
    planner: Planner, tables: dict[str, set[str]], out: queue.Queue[object], stop: threading.Event
) -> None:
    try:
        for table, rows in generate(planner, tables):
            if stop.is_set():
                return
            if table not in tables or not rows:
                continue
            wanted = COLUMNS[table]
            picks = None
            if not set(wanted) <= tables[table]:
                picks = [i for i, c in enumerate(wanted) if c in tables[table]]
            names = [c for c in wanted if c in tables[table]]
            out.put(Encoded(table, len(rows), _encode(rows, picks), names))
        out.put(_DONE)
    except BaseException as exc:  # the consumer re-raises it in the main thread
        out.put(exc)


def copy_stream(
    conn: Connection,
    planner: Planner,
    tables: dict[str, set[str]],
    result: LoadResult,
    progress: Progress | None = None,
    freeze: bool = False,
    idle: Callable[[set[str]], bool] | None = None,
) -> None:
    """COPY what the producer thread generates. With `idle`, whenever no chunk is ready the
    backend is given other work: idle(settled) with the tables whose rows are all loaded
    (returns False when it has nothing left to do)."""
    chunks: queue.Queue[object] = queue.Queue(maxsize=4)
    seen: set[str] = set()
    settled: set[str] = set()
    stop = threading.Event()
    producer = threading.Thread(
        target=_produce, args=(planner, tables, chunks, stop), name="seed-producer", daemon=True
    )
    producer.start()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        while True:
            started = time.perf_counter()
            try:
                item = chunks.get_nowait()
            except queue.Empty:
                if idle is not None and settled and idle(settled):
                    continue
                item = chunks.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, Encoded)
            if item.table in CHUNK_TABLES and not settled:  # the world is loaded
                settled = seen - set(CHUNK_TABLES) - set(UPDATED_AFTER)
            seen.add(item.table)
            columns = ", ".join(item.columns)
            options = " WITH (FREEZE)" if freeze else ""
            with cursor.copy(f"COPY {item.table} ({columns}) FROM STDIN{options}") as copy:
                copy.write(item.data)
            stat = result.tables.setdefault(item.table, TableStat(item.table))
            stat.rows += item.rows
            stat.seconds += time.perf_counter() - started
            if progress is not None:
                progress(item.table, item.rows, stat.rows_per_second)
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                chunks.get_nowait()
            except queue.Empty:
                producer.join(0.05)


def finish(conn: Connection, tables: dict[str, set[str]]) -> None:
    """What the disabled triggers keep up to date as aggregates: ratings, balances, guest
    spending, the report rollups; and the identity sequences after explicit ids."""
    if "reviews" in tables:
        conn.execute(
            text(
                "UPDATE hotels h SET rating = s.rating FROM ("
                " SELECT hotel_id, round(avg(rating), 2) AS rating FROM reviews"
                " GROUP BY hotel_id) s"
                " WHERE h.id = s.hotel_id AND h.rating IS DISTINCT FROM s.rating"
            )
        )
    if "bonus_transactions" in tables:
        conn.execute(
            text(
                "UPDATE bonus_accounts a SET balance = s.balance FROM ("
                " SELECT account_id, sum(amount) AS balance FROM bonus_transactions"
                " GROUP BY account_id) s"
                " WHERE a.id = s.account_id AND a.balance <> s.balance"
            )
        )
    if "guest_spending" in tables:
        # Recomputed whole (--append adds to existing guests); changed when the last payment
        # was made, as the trigger would have stamped it (and the same seed, the same rows).
        conn.execute(
            text(
                "INSERT INTO guest_spending AS g (user_id, completed, updated_at)"
                " SELECT b.user_id, sum(p.amount), max(p.created_at) FROM payments p"
                " JOIN bookings b ON b.id = p.booking_id WHERE p.status = 'completed'"
                " GROUP BY b.user_id"
                " ON CONFLICT (user_id) DO UPDATE"
                " SET completed = EXCLUDED.completed, updated_at = EXCLUDED.updated_at"
                " WHERE g.completed <> EXCLUDED.completed"
            )
        )
    if "booking_status_rollup" in tables:
        for statement in rollups.REBUILD:  # recomputed whole, like guest spending
            conn.execute(text(statement))
    for table in COLUMNS:
        if table in tables and "id" in tables[table]:
            conn.execute(text(identity_past_max(table)))


def defer(conn: Connection, tables: dict[str, set[str]]) -> deferred.Schema | None:
    """The empty-database path: truncate the tables it fills (so COPY may FREEZE) and drop
    their indexes and constraints; what to rebuild, or None when they cannot come back the
    same from their definitions (then everything stays on)."""
    filled = filled_tables(tables)
    schema = deferred.read(conn, filled)
    if not deferred.rebuildable(schema):
        return None
    deferred.drop(conn, schema)
    conn.execute(text(f"TRUNCATE {', '.join(filled)}"))
    return schema


REBUILD = "(indexes, constraints)"
EARLY = "(indexes, while generating)"
DERIVED = "(ratings, balances, rollups)"


def early_builds(
    builder: deferred.Builder, result: LoadResult, progress: Progress | None
) -> Callable[[set[str]], bool]:
    """copy_stream's idle work: one index or key of a settled table at a time."""

    def build(settled: set[str]) -> bool:
        started = time.perf_counter()
        if builder.early(settled) is None:
            return False
        stat = result.tables.setdefault(EARLY, TableStat(EARLY))
        stat.seconds += time.perf_counter() - started
        if progress is not None:
            progress(EARLY, 1, 0.0)
        return True

    return build


def rebuild(builder: deferred.Builder, result: LoadResult, progress: Progress | None) -> None:
    started = time.perf_counter()

    def built(_: str) -> None:
        if progress is not None:
            progress(REBUILD, 1, 0.0)

    builder.finish(built)
    result.tables[REBUILD] = TableStat(REBUILD, 0, time.perf_counter() - started)


def load(
    url: str,
    counts: Counts,
    *,
    seed: int = 0,
    locale: str = "ru_RU",
    append: bool = False,
    progress: Progress | None = None,
    analyze: bool = True,
) -> LoadResult:
    """Seed the database at `url` (a DSN that may ALTER its tables: the migrating role)."""
    validate(counts)
    check_locale(locale)
    started = time.perf_counter()
    lock_timeout = get_settings().seed_lock_timeout
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT set_config('lock_timeout', :t, true)"), {"t": lock_timeout})
            tables, refs, offsets, earn = prepare(conn, append, disable_triggers=True)
            result = LoadResult(revision_of(conn, tables))
            result.skipped = [t for t in COLUMNS if t not in tables]
            loaded = [t for t in COLUMNS if t in tables]
            planner = Planner(counts, seed, locale, refs, offsets, earn)
            schema = None if append else defer(conn, tables)
            builder = None if schema is None else deferred.Builder(conn, schema)
            idle = None if builder is None else early_builds(builder, result, progress)
            copy_stream(conn, planner, tables, result, progress, schema is not None, idle)
            started_finish = time.perf_counter()
            finish(conn, tables)
            result.tables[DERIVED] = TableStat(DERIVED, 0, time.perf_counter() - started_finish)
            if builder is not None:
                rebuild(builder, result, progress)
            for table in loaded:
                conn.execute(text(f"ALTER TABLE {table} ENABLE TRIGGER USER"))
            if append and "audit_log" in tables:
                record_append(conn, tables, result, offsets, seed)
            conn.commit()
            if analyze:
                started_analyze = time.perf_counter()
                analyze_all(engine, conn)
                result.tables["(analyze)"] = TableStat(
                    "(analyze)", 0, time.perf_counter() - started_analyze
                )
    finally:
        engine.dispose()
    result.seconds = time.perf_counter() - started
    return result


def analyze_all(engine: Engine, conn: Connection) -> None:
    """ANALYZE every table of the schema after the commit, largest first, in two sessions
    (a backend each, so two cores): what plain ANALYZE does one table after the other."""
    names = queue.SimpleQueue[str]()
    for name in conn.execute(
        text(
            "SELECT quote_ident(relname) FROM pg_class WHERE relkind IN ('r', 'm', 'p')"
            " AND relnamespace = current_schema()::regnamespace"
            " ORDER BY pg_relation_size(oid) DESC"
        )
    ).scalars():
        names.put(name)
    conn.commit()
    failures: list[BaseException] = []

    def work(session: Connection) -> None:
        try:
            while True:
                try:
                    name = names.get_nowait()
                except queue.Empty:
                    return
                session.execute(text(f"ANALYZE {name}"))
                session.commit()
        except BaseException as exc:  # re-raised below, in the caller's thread
            failures.append(exc)

    with engine.connect() as other:
        helper = threading.Thread(target=work, args=(other,), name="seed-analyze")
        helper.start()
        work(conn)
        helper.join()
    if failures:
        raise failures[0]


def is_seeded(url: str) -> bool:
    """Has the migrated database at `url` any rooms? SeedError when it is not migrated."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('public.rooms')")).scalar_one() is None:
                raise SeedError("the database is not migrated: run `hotel migrate head` first")
            return bool(conn.execute(text("SELECT EXISTS (SELECT FROM rooms)")).scalar_one())
    finally:
        engine.dispose()


def seed_if_empty(url: str, scale: str = "tiny") -> None:
    """The data of the load tests and benchmarks (skewed like real data: popular cities and
    hotels, seasons, cancellations, loyalty): seed an empty database once, reproducibly."""
    if not is_seeded(url):
        load(url, SCALES[scale], seed=0, locale="en_US")
