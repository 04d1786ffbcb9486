"""`hotel adopt`: carry the earlier system's database into a freshly migrated one, in one
transaction. Every earlier row lands (with its old id, or through adoption_id_map) or goes to
adoption_quarantine with the rule it broke; the counts reconcile per earlier table before
the commit, or nothing is written.

How: the earlier rows are streamed with COPY (one REPEATABLE READ snapshot of the source)
into temporary stage tables of the target; the rules of seeding.adopt.mapping mark the rows
that break one; set-based INSERTs carry the rest. Like `hotel seed`, the rule triggers are
off while it loads (inside the transaction) and what they would have kept (paid states,
ratings, balances, guest spending, status histories) is written after; `hotel check` proves
it. The audit log gets one event for the whole adoption, not a row per row.
"""

from __future__ import annotations

import bisect
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, create_engine, pool, text
from sqlalchemy.engine import make_url

from hotel_models import rollups
from hotel_models.errors import HotelError
from hotel_models.roles import (
    ANALYST_COMMENT,
    ANALYTIC,
    HOTEL_APP,
    HOTEL_OWNER,
    quote_ident,
    quote_literal,
)
from seeding.adopt.legacy_schema import TABLES, columns, detect
from seeding.adopt.mapping import (
    DERIVED,
    INSERTS,
    MASK_CARDS,
    NOTES,
    RULES,
    TARGET_TABLES,
    TARGETS,
)
from seeding.identity import identity_past_max

Progress = Callable[[str], None]
STAGE_MEMORY = "256MB"  # temp_buffers: the stages of 1M earlier bookings, histories, payments
WORK_MEMORY = "64MB"  # the windows and hash joins of the rules


@dataclass
class TableCount:
    table: str
    source: int = 0
    landed: int = 0
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def reconciled(self) -> bool:
        return self.source == self.landed + self.quarantined


@dataclass
class Adoption:
    tables: dict[str, TableCount] = field(default_factory=dict)
    analysts: list[str] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        return sum(t.source for t in self.tables.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "tables": {
                t.table: {
                    "source": t.source,
                    "landed": t.landed,
                    "quarantined": t.quarantined,
                    "reasons": t.reasons,
                }
                for t in self.tables.values()
            },
            "rows": self.rows,
            "analysts": self.analysts,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


def _stage(table: str) -> str:
    derived = "".join(f", {name} {kind}" for name, kind in DERIVED.get(table, ()))
    cols = ", ".join(f"{name} {kind}" for name, kind in TABLES[table][1])
    return (
        f"CREATE TEMP TABLE old_{table} ({cols}, _reason text, _detail text{derived}) "
        "ON COMMIT DROP"
    )


def _copy(source: Connection, target: Connection, progress: Progress | None) -> dict[str, int]:
    """Stream every earlier table into its stage; the source rows counted in the same
    snapshot."""
    src = source.connection.driver_connection.cursor()  # type: ignore[union-attr]
    dst = target.connection.driver_connection.cursor()  # type: ignore[union-attr]
    counts = {}
    for table, (key, _) in TABLES.items():
        target.exec_driver_sql(_stage(table))
        names = ", ".join(columns(table))
        with (
            src.copy(f"COPY (SELECT {names} FROM public.{table}) TO STDOUT") as out,
            dst.copy(f"COPY old_{table} ({names}) FROM STDIN") as into,
        ):
            for block in out:
                into.write(block)
        counts[table] = source.execute(text(f"SELECT count(*) FROM public.{table}")).scalar_one()
        if key is not None:
            target.exec_driver_sql(f"CREATE UNIQUE INDEX ON old_{table} ({key})")
        target.exec_driver_sql(f"ANALYZE old_{table}")  # autovacuum never sees temp tables
        if progress:
            progress(f"staged {table}: {counts[table]} rows")
    return counts


def _apply(conn: Connection, table: str) -> None:
    for rule in RULES[table]:
        source = f" FROM {rule.source}" if rule.source else ""
        conn.exec_driver_sql(
            f"UPDATE old_{table} s SET _reason = '{rule.reason}', _detail = {rule.detail}"
            f"{source} WHERE s._reason IS NULL AND ({rule.where})"
        )


def _reject(
    conn: Connection, table: str, key: str, reason: str, rows: list[tuple[int, str]]
) -> None:
    """Mark rows found by a pass in Python (ids and details through COPY)."""
    conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS rejects (id bigint, detail text)")
    conn.exec_driver_sql("TRUNCATE rejects")
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy("COPY rejects (id, detail) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.exec_driver_sql(
        f"UPDATE old_{table} s SET _reason = '{reason}', _detail = r.detail "
        f"FROM rejects r WHERE s.{key} = r.id"
    )


def _stream(conn: Connection, query: str) -> Iterator[tuple[Any, ...]]:
    """A server-side cursor: a million rows never sit in memory at once."""
    cursor = conn.connection.driver_connection.cursor(name="adopt_pass")  # type: ignore[union-attr]
    cursor.itersize = 20_000
    try:
        yield from cursor.execute(query)
    finally:
        cursor.close()


def _overlaps(conn: Connection) -> None:
    """Live stays of one room never overlap: the earlier-booked stay (lower id) keeps the
    room, a later one overlapping any kept stay is quarantined."""
    rejected: list[tuple[int, str]] = []
    room = None
    starts: list[Any] = []
    kept: list[tuple[Any, Any, int]] = []  # (check_in, check_out, booking), sorted
    for booking, room_id, check_in, check_out in _stream(
        conn,
        "SELECT booking_id, room_id, check_in_date, check_out_date FROM old_booking "
        "WHERE _reason IS NULL AND status <> 'canceled' ORDER BY room_id, booking_id",
    ):
        if room_id != room:
            room, starts, kept = room_id, [], []
        i = bisect.bisect_left(starts, check_in)
        clash = None
        if i > 0 and kept[i - 1][1] > check_in:
            clash = kept[i - 1][2]
        elif i < len(kept) and kept[i][0] < check_out:
            clash = kept[i][2]
        if clash is None:
            starts.insert(i, check_in)
            kept.insert(i, (check_in, check_out, booking))
        else:
            rejected.append((booking, f"room {room_id} is taken by booking {clash}"))
    _reject(conn, "booking", "booking_id", "overlapping_stay", rejected)


def _overdrafts(conn: Connection) -> None:
    """Balances never go below zero: along each ledger (by date, then id), a spend beyond
    the balance so far is quarantined."""
    rejected: list[tuple[int, str]] = []
    account, balance = None, 0
    for transaction, account_id, points in _stream(
        conn,
        "SELECT transaction_id, bonus_account_id, round(abs(amount))::bigint * CASE "
        "lower(trim(transaction_type)) WHEN 'earn' THEN 1 ELSE -1 END FROM old_bonus_transaction "
        "WHERE _reason IS NULL ORDER BY bonus_account_id, transaction_date NULLS LAST, "
        "transaction_id",
    ):
        if account_id != account:
            account, balance = account_id, 0
        if balance + points < 0:
            rejected.append((transaction, f"spend of {-points} with a balance of {balance}"))
        else:
            balance += points
    _reject(conn, "bonus_transaction", "transaction_id", "overdraft", rejected)


def _derive(conn: Connection, table: str) -> None:
    """The derived columns a table's rules read."""
    if table == "payment":  # the link now runs from payment to booking
        conn.exec_driver_sql(
            "UPDATE old_payment p SET _booking = coalesce(p.booking_id, b.booking_id) "
            "FROM (SELECT payment_id, min(booking_id) AS booking_id FROM old_booking "
            "WHERE payment_id IS NOT NULL GROUP BY payment_id) b "
            "WHERE b.payment_id = p.payment_id AND p.booking_id IS NULL"
        )
        conn.exec_driver_sql("UPDATE old_payment SET _booking = booking_id WHERE _booking IS NULL")
    elif table == "bonus_account":  # and from account to user
        conn.exec_driver_sql(
            "UPDATE old_bonus_account a SET _user = coalesce(a.user_id, u.user_id) "
            "FROM (SELECT bonus_account_id, min(user_id) AS user_id FROM old_users "
            "WHERE bonus_account_id IS NOT NULL GROUP BY bonus_account_id) u "
            "WHERE u.bonus_account_id = a.bonus_account_id AND a.user_id IS NULL"
        )
        conn.exec_driver_sql("UPDATE old_bonus_account SET _user = user_id WHERE _user IS NULL")
    elif table == "review":
        # A review needs a completed stay of its author at the hotel: the n-th review of a
        # guest at a hotel takes the n-th such stay. Its rating is the hotel's earlier
        # rating, the only rating the earlier system kept.
        conn.exec_driver_sql(
            "UPDATE old_review v SET _rating = h.rating FROM old_hotel h "
            "WHERE h.hotel_id = v.hotel_id AND h._reason IS NULL AND h.rating IS NOT NULL"
        )
        conn.exec_driver_sql(
            "UPDATE old_review v SET _booking = s.booking_id FROM ("
            " SELECT b.booking_id, b.user_id, r.hotel_id, row_number() OVER ("
            "  PARTITION BY b.user_id, r.hotel_id ORDER BY b.check_out_date, b.booking_id) AS n"
            " FROM old_booking b JOIN old_room r ON r.room_id = b.room_id"
            " WHERE b._reason IS NULL AND b.status = 'done') s, ("
            " SELECT review_id, row_number() OVER ("
            "  PARTITION BY user_id, hotel_id ORDER BY review_id) AS n"
            " FROM old_review WHERE _rating IS NOT NULL) o "
            "WHERE o.review_id = v.review_id AND s.user_id = v.user_id "
            "AND s.hotel_id = v.hotel_id AND s.n = o.n"
        )


def _decide(conn: Connection, table: str) -> None:
    """Mark the rows of `table` that break a rule; derive what the INSERT needs."""
    _derive(conn, table)
    _apply(conn, table)
    if table == "booking":
        _overlaps(conn)
        conn.exec_driver_sql(
            "UPDATE old_booking s SET _price = coalesce(s.price, "
            "r.price * (s.check_out_date - s.check_in_date)) FROM old_room r "
            "WHERE r.room_id = s.room_id AND s._reason IS NULL"
        )
    elif table == "bonus_transaction":
        _overdrafts(conn)
    elif table == "booking_additional_service":
        # An earlier service had no hotel: it gets one through the bookings that used it.
        conn.exec_driver_sql(
            "UPDATE old_additional_service s SET _reason = 'service_never_sold' "
            "WHERE s._reason IS NULL AND NOT EXISTS (SELECT FROM "
            "old_booking_additional_service l WHERE l.service_id = s.service_id "
            "AND l._reason IS NULL)"
        )


def _insert_services(conn: Connection) -> None:
    """An earlier service becomes one service per hotel whose bookings used it. The first
    (lowest hotel id) keeps the old id, the others get ids after the highest old one;
    adoption_id_map lists them all."""
    conn.exec_driver_sql(
        "CREATE TEMP TABLE service_hotels ON COMMIT DROP AS "
        "SELECT service_id, hotel_id, CASE WHEN n = 1 THEN service_id "
        " ELSE top + row_number() OVER (ORDER BY n = 1, service_id, hotel_id) END AS new_id "
        "FROM (SELECT DISTINCT l.service_id, r.hotel_id, dense_rank() OVER "
        "       (PARTITION BY l.service_id ORDER BY r.hotel_id) AS n "
        "      FROM old_booking_additional_service l "
        "      JOIN old_booking b ON b.booking_id = l.booking_id "
        "      JOIN old_room r ON r.room_id = b.room_id WHERE l._reason IS NULL) p, "
        "     (SELECT coalesce(max(service_id), 0) AS top FROM old_additional_service) t"
    )
    conn.exec_driver_sql("ANALYZE service_hotels")
    conn.exec_driver_sql(
        "INSERT INTO services (id, hotel_id, name, description, price) "
        "SELECT h.new_id, h.hotel_id, s.service_name, s.service_description, s.price "
        "FROM service_hotels h JOIN old_additional_service s ON s.service_id = h.service_id"
    )
    conn.exec_driver_sql(
        "INSERT INTO adoption_id_map (source_table, old_id, new_id) "
        "SELECT 'additional_service', service_id, new_id FROM service_hotels"
    )
    conn.exec_driver_sql(
        "INSERT INTO booking_services (booking_id, service_id, quantity, price) "
        "SELECT l.booking_id, h.new_id, 1, s.price FROM old_booking_additional_service l "
        "JOIN old_booking b ON b.booking_id = l.booking_id "
        "JOIN old_room r ON r.room_id = b.room_id "
        "JOIN service_hotels h ON h.service_id = l.service_id AND h.hotel_id = r.hotel_id "
        "JOIN old_additional_service s ON s.service_id = l.service_id "
        "WHERE l._reason IS NULL"
    )


def _quarantine(conn: Connection, table: str) -> None:
    key = TABLES[table][0]
    drop = ", ".join(["'_reason'", "'_detail'", *(f"'{n}'" for n, _ in DERIVED.get(table, ()))])
    conn.exec_driver_sql(
        "INSERT INTO adoption_quarantine (source_table, old_id, reason, detail, old_row) "
        f"SELECT '{table}', {f's.{key}' if key else 'NULL'}, _reason, _detail, "
        f"to_jsonb(s) - ARRAY[{drop}] FROM old_{table} s WHERE _reason IS NOT NULL"
    )


def _histories(conn: Connection) -> None:
    """The new schema keeps each booking's history as a chain from its opening to its
    status; the earlier one did not. Kept as they were, plus an opening row where a booking
    had none, and a closing row where the last one does not end at the booking's status,
    both by 'adoption'."""
    _setval(conn, "booking_status_history")
    conn.exec_driver_sql(
        "INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_at, "
        "changed_by) SELECT b.id, NULL, 'pending', b.created_at, 'adoption' FROM bookings b "
        "WHERE NOT EXISTS (SELECT FROM booking_status_history h "
        "WHERE h.booking_id = b.id AND h.old_status IS NULL)"
    )
    conn.exec_driver_sql(
        "INSERT INTO booking_status_history (booking_id, old_status, new_status, changed_at, "
        "changed_by) SELECT b.id, l.new_status, b.status, greatest(now(), l.changed_at), "
        "'adoption' FROM bookings b JOIN (SELECT DISTINCT ON (booking_id) booking_id, "
        "new_status, changed_at FROM booking_status_history "
        "ORDER BY booking_id, changed_at DESC, id DESC) l ON l.booking_id = b.id "
        "WHERE l.new_status <> b.status"
    )


def _setval(conn: Connection, table: str) -> None:
    """Identity past the highest old id of the table, landed or quarantined: a new row never
    takes the id of a quarantined one (it may be repaired and carried over by hand)."""
    new_of = {**{t: new for t, (new, _, _) in TARGETS.items()}, "additional_service": "services"}
    old = [t for t, new in new_of.items() if new == table and TABLES[t][0]]
    stage = f"(SELECT max({TABLES[old[0]][0]}) FROM old_{old[0]})" if old else "NULL"
    conn.exec_driver_sql(identity_past_max(table, at_least=stage))


def _finish(conn: Connection) -> None:
    """What the disabled triggers keep: ratings, balances, guest spending, the report
    rollups (paid states are written with the bookings)."""
    conn.exec_driver_sql(
        "UPDATE hotels h SET rating = s.rating FROM (SELECT hotel_id, "
        "round(avg(rating), 2) AS rating FROM reviews GROUP BY hotel_id) s "
        "WHERE h.id = s.hotel_id"
    )
    conn.exec_driver_sql(
        "UPDATE bonus_accounts a SET balance = s.balance FROM (SELECT account_id, "
        "sum(amount) AS balance FROM bonus_transactions GROUP BY account_id) s "
        "WHERE a.id = s.account_id"
    )
    conn.exec_driver_sql(
        "INSERT INTO guest_spending (user_id, completed, updated_at) "
        "SELECT b.user_id, sum(p.amount), max(p.created_at) FROM payments p "
        "JOIN bookings b ON b.id = p.booking_id WHERE p.status = 'completed' "
        "GROUP BY b.user_id"
    )
    if conn.exec_driver_sql("SELECT to_regclass('booking_status_rollup')").scalar():
        for statement in rollups.REBUILD:  # revision 0021 on
            conn.exec_driver_sql(statement)
    for table in TARGET_TABLES:
        if table not in (
            "hotel_amenities",
            "room_facilities",
            "booking_services",
            "guest_spending",
        ):
            _setval(conn, table)


def _reconcile(conn: Connection, counts: dict[str, int]) -> dict[str, TableCount]:
    """Counted again from the target: the old ids found in the new tables, and the
    quarantine rows, against the source's own count."""
    result = {}
    reasons: dict[str, dict[str, int]] = {}
    for table, reason, n in conn.execute(
        text(
            "SELECT source_table, reason, count(*) FROM adoption_quarantine "
            "GROUP BY 1, 2 ORDER BY 1, 2"
        )
    ):
        reasons.setdefault(table, {})[reason] = n
    for table in TABLES:
        target, new_keys, old_keys = TARGETS[table]
        if table == "additional_service":
            query = (
                "SELECT count(DISTINCT old_id) FROM adoption_id_map "
                "WHERE source_table = 'additional_service'"
            )
        elif table == "booking_additional_service":
            query = (
                "SELECT count(*) FROM old_booking_additional_service o WHERE EXISTS ("
                "SELECT FROM booking_services t JOIN adoption_id_map m ON m.new_id = t.service_id "
                "AND m.source_table = 'additional_service' WHERE t.booking_id = o.booking_id "
                "AND m.old_id = o.service_id)"
            )
        else:
            on = " AND ".join(f"t.{n} = o.{o}" for n, o in zip(new_keys, old_keys, strict=True))
            query = f"SELECT count(*) FROM {target} t JOIN old_{table} o ON {on}"
        by_reason = reasons.get(table, {})
        result[table] = TableCount(
            table,
            source=counts[table],
            landed=conn.execute(text(query)).scalar_one(),
            quarantined=sum(by_reason.values()),
            reasons=by_reason,
        )
    return result


ROOMS_CITY_TRIGGER = (
    "SELECT FROM pg_trigger WHERE tgrelid = 'rooms'::regclass AND tgname = 'rooms_city'"
)


def _refuse_unless_ready(conn: Connection) -> None:
    present = set(
        conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ).scalars()
    )
    if "adoption_quarantine" not in present:
        raise HotelError(
            "the target is not migrated to revision 0018 or later: run `hotel migrate` first"
        )
    for table in ("adoption_quarantine", *TARGET_TABLES):
        if conn.execute(text(f"SELECT EXISTS (SELECT FROM {table})")).scalar():
            raise HotelError(
                f"the target already holds data (table {table} is not empty): adopt into a "
                "freshly migrated database (to redo an adoption, recreate it and migrate)"
            )
    allowed = conn.execute(
        text(
            "SELECT rolsuper OR (rolcreaterole AND pg_has_role(current_user, "
            "(SELECT relowner FROM pg_class WHERE oid = 'bookings'::regclass), 'USAGE')) "
            "FROM pg_roles WHERE rolname = current_user"
        )
    ).scalar()
    if not allowed:
        raise HotelError(
            "hotel adopt needs the migrating DSN (owner of the tables with CREATEROLE, or a "
            "superuser): it turns the rule triggers off while it loads and creates roles"
        )


def _analysts(conn: Connection, names: list[str]) -> list[str]:
    """The earlier analysts become members of `analytic`, NOLOGIN until `hotel roles sync`
    gives them a password: their <name>_123 passwords die here, even on a shared cluster.
    Analysts this platform already manages keep what they have; a role of the target's
    cluster that is more than an analyst (superuser, CREATEROLE, the platform's own, the
    adopting role) is never touched. Returns the analysts carried."""
    managed = set(
        conn.execute(
            text(
                "SELECT r.rolname FROM pg_roles r JOIN pg_shdescription d ON d.objoid = r.oid "
                "AND d.classoid = 'pg_authid'::regclass WHERE d.description = :c"
            ),
            {"c": ANALYST_COMMENT},
        ).scalars()
    )
    privileged = set(
        conn.execute(
            text(
                "SELECT rolname FROM pg_roles WHERE rolsuper OR rolcreaterole OR rolreplication "
                "OR rolname IN (current_user, session_user, :owner, :app)"
            ),
            {"owner": HOTEL_OWNER, "app": HOTEL_APP},
        ).scalars()
    )
    carried = []
    for name in names:
        if name in privileged:
            continue
        role = quote_ident(name)
        if name not in managed:
            conn.exec_driver_sql(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = "
                f"{quote_literal(name)}) THEN CREATE ROLE {role} NOLOGIN; END IF; END $$"
            )
            conn.exec_driver_sql(f"ALTER ROLE {role} NOLOGIN PASSWORD NULL")
            conn.exec_driver_sql(f"COMMENT ON ROLE {role} IS {quote_literal(ANALYST_COMMENT)}")
        conn.exec_driver_sql(f"GRANT {quote_ident(ANALYTIC)} TO {role}")
        carried.append(name)
    return carried


def adopt(
    source_url: str, target_url: str, progress: Progress | None = None, analyze: bool = True
) -> Adoption:
    """Adopt the earlier database at `source_url` into the migrated one at `target_url`."""
    started = time.perf_counter()
    result = Adoption()
    source_engine = create_engine(source_url, poolclass=pool.NullPool)
    target_engine = create_engine(target_url, poolclass=pool.NullPool)
    try:
        with source_engine.connect() as source, target_engine.connect() as target:
            source.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            detected = detect(source)
            _refuse_unless_ready(target)
            # The stages are temporary tables rewritten by every rule: keep them in memory
            # (temp_buffers is 8MB by default, and can only be set before the first one).
            target.exec_driver_sql(f"SET LOCAL temp_buffers = '{STAGE_MEMORY}'")
            target.exec_driver_sql(f"SET LOCAL work_mem = '{WORK_MEMORY}'")
            for table in TARGET_TABLES:
                target.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            # A room's city is its hotel's (revision 0024 on): that trigger alone stays on.
            if target.exec_driver_sql(ROOMS_CITY_TRIGGER).first() is not None:
                target.exec_driver_sql("ALTER TABLE rooms ENABLE TRIGGER rooms_city")
            counts = _copy(source, target, progress)
            source.rollback()
            target.exec_driver_sql(MASK_CARDS)
            # Decide every row first (the rules read only the stages), then write: a
            # booking's paid state is known from its payments before it is inserted.
            for table in TABLES:
                _decide(target, table)
            result.notes = {
                note: n
                for note, query in NOTES.items()
                if (n := target.exec_driver_sql(query).scalar_one())
            }
            for table in TABLES:
                if table in INSERTS:
                    target.exec_driver_sql(INSERTS[table])
                if table == "booking_additional_service":
                    _insert_services(target)
                _quarantine(target, table)
                if progress:
                    progress(f"adopted {table}")
            _histories(target)
            _finish(target)
            for table in TARGET_TABLES:
                target.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER USER")
            result.tables = _reconcile(target, counts)
            broken = [t for t in result.tables.values() if not t.reconciled]
            if broken:
                t = broken[0]
                raise HotelError(
                    f"counts do not reconcile for {t.table}: {t.source} rows, {t.landed} "
                    f"landed, {t.quarantined} quarantined; nothing was written"
                )
            result.analysts = _analysts(target, detected.analysts)
            result.seconds = time.perf_counter() - started
            source_name = make_url(source_url)
            target.execute(
                text(
                    "INSERT INTO audit_log (table_name, operation, row_pk, new_row) "
                    "VALUES ('(adoption)', 'INSERT', CAST(:pk AS jsonb), CAST(:row AS jsonb))"
                ),
                {
                    "pk": json.dumps({"source": f"{source_name.host}:{source_name.port}/"
                                 f"{source_name.database}"}),
                    "row": json.dumps(result.as_json()),
                },
            )  # fmt: skip
            target.commit()
            if analyze:
                target.exec_driver_sql("ANALYZE")
                target.commit()
    finally:
        source_engine.dispose()
        target_engine.dispose()
    result.seconds = time.perf_counter() - started
    return result
