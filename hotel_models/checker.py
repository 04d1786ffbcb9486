"""The business rules as queries over a whole database: `check(connection)` lists every row
that breaks one. Used after bulk seeding (whose triggers were off) and to verify restores.

Each rule runs only when the tables (and `table.column`s) it reads exist: the database may be
at any revision.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text


@dataclass(frozen=True)
class Violation:
    rule: str
    key: str  # the offending row(s), e.g. "booking 17"
    detail: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.key}: {self.detail}"


# rule -> (tables or table.columns it needs, query returning (key, detail) rows)
RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "room_city_not_hotel_city": (
        ("rooms.city", "hotels"),
        """SELECT 'room ' || r.id, 'city ' || quote_literal(r.city) || ', its hotel '
                  || h.id || ' is in ' || quote_literal(h.city)
           FROM rooms r JOIN hotels h ON h.id = r.hotel_id WHERE r.city <> h.city""",
    ),
    "overlapping_bookings": (
        ("bookings",),
        """SELECT 'bookings ' || prev_id || ', ' || id, 'room ' || room_id || ': stay from '
                  || check_in || ' starts before ' || prev_out
           FROM (SELECT id, room_id, check_in,
                        lag(id) OVER w AS prev_id, lag(check_out) OVER w AS prev_out
                 FROM bookings WHERE status <> 'cancelled'
                 WINDOW w AS (PARTITION BY room_id ORDER BY check_in, id)) s
           WHERE prev_out > check_in""",
    ),
    "guests_over_capacity": (
        ("bookings", "rooms"),
        """SELECT 'booking ' || b.id, b.guests || ' guests in a room for ' || r.capacity
           FROM bookings b JOIN rooms r ON r.id = b.room_id WHERE b.guests > r.capacity""",
    ),
    "balance_not_ledger_sum": (
        ("bonus_accounts", "bonus_transactions"),
        """SELECT 'bonus account ' || a.id, 'balance ' || a.balance || ', ledger sum '
                  || coalesce(s.total, 0)
           FROM bonus_accounts a LEFT JOIN (
             SELECT account_id, sum(amount) AS total FROM bonus_transactions
             GROUP BY account_id) s ON s.account_id = a.id
           WHERE a.balance <> coalesce(s.total, 0)""",
    ),
    "spending_not_payments_sum": (
        ("guest_spending", "payments", "bookings"),
        """SELECT 'guest ' || coalesce(g.user_id, s.user_id), 'spending '
                  || coalesce(g.completed, 0) || ', completed payments ' || coalesce(s.paid, 0)
           FROM guest_spending g FULL JOIN (
             SELECT b.user_id, sum(p.amount) AS paid
             FROM payments p JOIN bookings b ON b.id = p.booking_id
             WHERE p.status = 'completed' GROUP BY b.user_id) s ON s.user_id = g.user_id
           WHERE coalesce(g.completed, 0) <> coalesce(s.paid, 0)""",
    ),
    # The report rollups (revision 0021) against the same reports over the base tables.
    "booking_status_rollup_not_bookings": (
        ("booking_status_rollup", "bookings"),
        """SELECT 'status ' || coalesce(r.status, b.status), 'rollup ' || coalesce(r.n, 0)
                  || ' bookings, ' || coalesce(r.total, 0) || '; bookings '
                  || coalesce(b.n, 0) || ', ' || coalesce(b.total, 0)
           FROM (SELECT status, sum(bookings) AS n, sum(total_price) AS total
                 FROM booking_status_rollup GROUP BY status) r
           FULL JOIN (SELECT status, count(*) AS n, sum(total_price) AS total
                      FROM bookings GROUP BY status) b ON b.status = r.status
           WHERE coalesce(r.n, 0) <> coalesce(b.n, 0)
              OR coalesce(r.total, 0) <> coalesce(b.total, 0)""",
    ),
    "revenue_rollup_not_payments": (
        ("revenue_rollup", "payments", "bookings", "rooms", "hotels"),
        """SELECT coalesce(r.city, p.city) || ' on ' || coalesce(r.day, p.day),
                  'rollup ' || coalesce(r.n, 0) || ' payments, ' || coalesce(r.amount, 0)
                  || '; completed payments ' || coalesce(p.n, 0) || ', '
                  || coalesce(p.amount, 0)
           FROM (SELECT city, day, sum(payments) AS n, sum(amount) AS amount
                 FROM revenue_rollup GROUP BY city, day) r
           FULL JOIN (SELECT h.city, (p.created_at AT TIME ZONE 'UTC')::date AS day,
                             count(*) AS n, sum(p.amount) AS amount
                      FROM payments p JOIN bookings b ON b.id = p.booking_id
                      JOIN rooms m ON m.id = b.room_id JOIN hotels h ON h.id = m.hotel_id
                      WHERE p.status = 'completed' GROUP BY 1, 2) p
             ON p.city = r.city AND p.day = r.day
           WHERE coalesce(r.n, 0) <> coalesce(p.n, 0)
              OR coalesce(r.amount, 0) <> coalesce(p.amount, 0)""",
    ),
    "negative_balance": (
        ("bonus_accounts",),
        "SELECT 'bonus account ' || id, 'balance ' || balance FROM bonus_accounts "
        "WHERE balance < 0",
    ),
    "payments_over_total": (
        ("bookings", "payments"),
        """SELECT 'booking ' || b.id, 'completed payments ' || s.paid || ' > price '
                  || b.total_price
           FROM bookings b JOIN (
             SELECT booking_id, sum(amount) AS paid FROM payments WHERE status = 'completed'
             GROUP BY booking_id) s ON s.booking_id = b.id
           WHERE s.paid > b.total_price""",
    ),
    "paid_state_inconsistent": (
        ("bookings", "payments"),
        """SELECT 'booking ' || b.id, 'paid_state ' || b.paid_state || ' but paid '
                  || coalesce(s.paid, 0) || ' of ' || b.total_price
           FROM bookings b LEFT JOIN (
             SELECT booking_id, sum(amount) AS paid FROM payments WHERE status = 'completed'
             GROUP BY booking_id) s ON s.booking_id = b.id
           WHERE b.paid_state::text <> CASE
             WHEN coalesce(s.paid, 0) >= b.total_price THEN 'paid'
             WHEN coalesce(s.paid, 0) = 0 THEN 'unpaid' ELSE 'partially_paid' END""",
    ),
    "missing_status_history": (
        ("bookings", "booking_status_history"),
        """SELECT 'booking ' || b.id,
                  'status ' || b.status || ' has no history chain from insert to it'
           FROM bookings b LEFT JOIN LATERAL (
             SELECT count(*) FILTER (WHERE old_status IS NULL) AS inserts,
                    (array_agg(new_status ORDER BY changed_at DESC, id DESC))[1] AS latest
             FROM booking_status_history h WHERE h.booking_id = b.id) h ON true
           WHERE h.inserts <> 1 OR h.latest IS DISTINCT FROM b.status""",
    ),
    "review_of_uncompleted_stay": (
        ("reviews", "bookings"),
        """SELECT 'review ' || v.id, 'booking ' || b.id || ' is ' || b.status
                  || CASE WHEN b.user_id <> v.user_id THEN ' and not the reviewer''s' ELSE '' END
           FROM reviews v JOIN bookings b ON b.id = v.booking_id
           WHERE b.status <> 'completed' OR b.user_id <> v.user_id""",
    ),
    "hotel_rating_not_average": (
        ("hotels", "reviews"),
        """SELECT 'hotel ' || h.id, 'rating ' || coalesce(h.rating::text, 'NULL')
                  || ', average of reviews ' || coalesce(s.rating::text, 'NULL')
           FROM hotels h LEFT JOIN (
             SELECT hotel_id, round(avg(rating), 2) AS rating FROM reviews
             GROUP BY hotel_id) s ON s.hotel_id = h.id
           WHERE h.rating IS DISTINCT FROM s.rating""",
    ),
}


def existing_columns(conn: Connection) -> dict[str, set[str]]:
    """The tables (and views) of the current schema with their columns: what this revision has."""
    rows = conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema()"
        )
    )
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    return columns


def check(connection: Connection) -> list[Violation]:
    """Every violation of the business rules in the database behind `connection`."""
    columns = existing_columns(connection)
    present = {*columns, *(f"{t}.{c}" for t, names in columns.items() for c in names)}
    violations: list[Violation] = []
    for rule, (tables, query) in RULES.items():
        if not set(tables) <= present:
            continue
        violations.extend(
            Violation(rule, key, detail) for key, detail in connection.execute(text(query))
        )
    return violations
