"""The same plan, row by row through hotel_models.operations with every trigger on.

Slow (every booking is several round trips and trigger runs) and meant for small worlds:
it is the reference the bulk loader is compared with. World rows (hotels, rooms, guests...)
are plain INSERTs, which is how the service writes them too; bookings go through
create_booking, pay, confirm/check-in/complete/cancel and add_review, and the triggers
derive history, paid_state, ledger, balances and ratings themselves.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Connection, Table, insert, text
from sqlalchemy.orm import Session

from hotel_models import Payment, metadata
from hotel_models import operations as ops
from hotel_models.enums import BookingStatus, PaymentStatus
from seeding.identity import identity_past_max
from seeding.plan import CHUNK_TABLES, COLUMNS, Planner, fields, generate

Rows = list[tuple[str | None, ...]]

WORLD_TABLES = ("partners", "hotels", "hotel_amenities", "services", "rooms",
                "room_facilities", "room_rates", "users", "user_payment_methods",
                "bonus_accounts", "bonus_transactions")  # fmt: skip

MOVES = {
    BookingStatus.CONFIRMED: ops.confirm_booking,
    BookingStatus.CHECKED_IN: ops.check_in,
    BookingStatus.COMPLETED: ops.complete_stay,
    BookingStatus.CANCELLED: ops.cancel_booking,
}


def _typed(table: Table, row: dict[str, object]) -> dict[str, object]:
    """COPY text back to Python values for a Core insert."""
    out: dict[str, object] = {}
    for name, value in row.items():
        kind = table.c[name].type.python_type
        if value is None:
            out[name] = value
        elif kind is int:
            out[name] = int(str(value))
        elif kind is Decimal:
            out[name] = Decimal(str(value))
        elif kind is date:
            out[name] = date.fromisoformat(str(value))
        elif kind is datetime:
            out[name] = datetime.fromisoformat(str(value))
        elif kind is bool:
            out[name] = value == "t"
        elif kind is dict:
            out[name] = json.loads(str(value))
        else:
            out[name] = value
    return out


def replay(connection: Connection, planner: Planner) -> None:
    """Write the planner's world through the service's paths (the caller commits)."""
    session = Session(bind=connection)
    bookings: dict[str, Rows] = defaultdict(list)
    for table, lines in generate(planner):
        if not lines:
            continue
        rows = [fields(line) for line in lines]
        if table in CHUNK_TABLES and not (table == "bonus_transactions" and _promo(rows)):
            bookings[table].extend(rows)
            continue
        model = metadata.tables[table]
        columns = COLUMNS[table]
        session.execute(
            insert(model), [_typed(model, dict(zip(columns, row, strict=True))) for row in rows]
        )
    for table in WORLD_TABLES:  # explicit ids: move the identities past them
        if "id" in COLUMNS[table]:
            session.execute(text(identity_past_max(table)))
    _replay_bookings(session, bookings)
    session.flush()


def _promo(rows: Rows) -> bool:
    return bool(rows) and all(row[2] is None for row in rows)


def _replay_bookings(session: Session, planned: dict[str, Rows]) -> None:
    by_booking: dict[int, list[tuple[str, str, tuple[object, ...]]]] = defaultdict(list)
    for row in planned["booking_status_history"]:
        by_booking[int(str(row[1]))].append((str(row[4]), "status", row))
    for row in planned["payments"]:
        by_booking[int(str(row[1]))].append((str(row[5]), "payment", row))
    services: dict[int, list[int]] = defaultdict(list)
    for row in planned["booking_services"]:
        services[int(str(row[0]))].append(int(str(row[1])))
    reviews = {int(str(row[1])): row for row in planned["reviews"]}
    for row in planned["bookings"]:
        (bid, _, user_id, room_id, check_in, check_out, guests, _, option, _, total, points,
         *_) = row  # fmt: skip
        booking = ops.create_booking(
            session,
            user_id=int(str(user_id)),
            room_id=int(str(room_id)),
            check_in=date.fromisoformat(str(check_in)),
            check_out=date.fromisoformat(str(check_out)),
            guests=int(str(guests)),
            service_ids=services.get(int(str(bid)), []),
            bonus_points=int(str(points)),
            payment_option=str(option),
        )
        if booking.id != int(str(bid)) or booking.total_price != Decimal(str(total)):
            raise AssertionError(
                f"booking {bid}: the service made id {booking.id} at {booking.total_price}, "
                f"the plan says {total}"
            )
        # The stable sort keeps the plan's order for events at the same moment.
        for _, kind, event in sorted(by_booking[booking.id], key=lambda e: e[0]):
            if kind == "status" and event[2] is not None:
                MOVES[BookingStatus(str(event[3]))](session, booking_id=booking.id)
            elif kind == "payment" and event[4] == "completed":
                ops.pay(
                    session,
                    booking_id=booking.id,
                    amount=Decimal(str(event[3])),
                    method_id=int(str(event[2])),
                )
            elif kind == "payment":
                session.add(
                    Payment(
                        booking_id=booking.id,
                        method_id=int(str(event[2])),
                        amount=Decimal(str(event[3])),
                        status=PaymentStatus(str(event[4])),
                    )
                )
                session.flush()
        if (review := reviews.get(booking.id)) is not None:
            ops.add_review(
                session,
                booking_id=booking.id,
                user_id=int(str(review[2])),
                rating=int(str(review[4])),
                comment=None if review[5] is None else str(review[5]),
            )
