"""Report rollups kept by the database (revision 0021): the booking-status and revenue
reports read a few thousand rows instead of every booking and payment.

Writers only ever append signed deltas (`compact` false), so concurrent bookings and
payments never wait on a shared counter row; now and then a writer folds the loose rows into
one compact row per key. A report sums both kinds, which under any snapshot equals the same
query over the base tables (see the revision's notes).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy import BigInteger, Index, Numeric, Text, false, text
from sqlalchemy.orm import Mapped, mapped_column

from hotel_models.base import Base, IdMixin
from hotel_models.bookings import booking_status
from hotel_models.enums import BookingStatus


class BookingStatusRollup(IdMixin, Base):
    """Bookings and the sum of their prices per status (`analytic_booking_status`)."""

    __tablename__ = "booking_status_rollup"
    __table_args__ = (
        Index(
            "uq_booking_status_rollup_status",
            "status",
            unique=True,
            postgresql_where=text("compact"),
        ),
    )

    status: Mapped[BookingStatus] = mapped_column(booking_status)
    bookings: Mapped[int] = mapped_column(BigInteger)
    total_price: Mapped[Decimal] = mapped_column(Numeric)
    compact: Mapped[bool] = mapped_column(server_default=false())


class RevenueRollup(IdMixin, Base):
    """Completed payments and their sum per hotel city and UTC day (`revenue_report`)."""

    __tablename__ = "revenue_rollup"
    __table_args__ = (
        Index(
            "uq_revenue_rollup_day_city",
            "day",
            "city",
            unique=True,
            postgresql_where=text("compact"),
        ),
        Index("ix_revenue_rollup_loose_day", "day", postgresql_where=text("NOT compact")),
    )

    city: Mapped[str] = mapped_column(Text)
    day: Mapped[date]
    payments: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[Decimal] = mapped_column(Numeric)
    compact: Mapped[bool] = mapped_column(server_default=false())


# The reports, exact over any snapshot. Revenue months are UTC months, the rollup's days
# UTC days: the window's first day is partial, so it is read from the payments themselves.
# The bounds are written out (not a CTE) so the planner sees one day of payments and looks
# their bookings up by key instead of hashing every booking.
BOOKING_STATUS_REPORT = """
SELECT status, sum(bookings)::bigint AS count, sum(total_price) AS sum
FROM booking_status_rollup GROUP BY status HAVING sum(bookings) <> 0"""

REVENUE_REPORT = """
WITH parts AS (
  SELECT r.city, date_trunc('month', r.day::timestamp) AT TIME ZONE 'UTC' AS month,
         r.amount, r.payments
  FROM revenue_rollup r
  WHERE r.day > ((now() - interval '90 days') AT TIME ZONE 'UTC')::date
  UNION ALL
  SELECT h.city, date_trunc('month', p.created_at, 'UTC'), p.amount, 1
  FROM payments p JOIN bookings b ON b.id = p.booking_id
  JOIN rooms m ON m.id = b.room_id JOIN hotels h ON h.id = m.hotel_id
  WHERE p.status = 'completed' AND p.created_at > now() - interval '90 days'
    AND p.created_at < (((now() - interval '90 days') AT TIME ZONE 'UTC')::date + 1)::timestamp
                       AT TIME ZONE 'UTC')
SELECT city, month, sum(amount) AS sum, sum(payments)::bigint AS count FROM parts
GROUP BY city, month HAVING sum(payments) <> 0 ORDER BY month, sum(amount) DESC"""

# The same reports over the base tables: what the rollups must always equal.
BOOKING_STATUS_BASE = "SELECT status, count(*), sum(total_price) FROM bookings GROUP BY status"
REVENUE_BASE = """
SELECT h.city, date_trunc('month', p.created_at, 'UTC') AS month, sum(p.amount), count(*)
FROM payments p JOIN bookings b ON b.id = p.booking_id
JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
WHERE p.status = 'completed' AND p.created_at > now() - interval '90 days'
GROUP BY h.city, month ORDER BY month, sum(p.amount) DESC"""

# Rebuilt whole from the base tables (bulk seeding and adoption, whose triggers are off).
REBUILD = (
    "DELETE FROM booking_status_rollup",
    "INSERT INTO booking_status_rollup (status, bookings, total_price, compact)"
    " SELECT status, count(*), sum(total_price), true FROM bookings GROUP BY status",
    "DELETE FROM revenue_rollup",
    "INSERT INTO revenue_rollup (city, day, payments, amount, compact)"
    " SELECT h.city, (p.created_at AT TIME ZONE 'UTC')::date, count(*), sum(p.amount), true"
    " FROM payments p JOIN bookings b ON b.id = p.booking_id"
    " JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id"
    " WHERE p.status = 'completed' GROUP BY 1, 2",
)
