"""Typed failures of the service's transactions, mapped from what PostgreSQL reports.

The rules live in the database (constraints and triggers raising check_violation with a
constraint name), so one mapping from (SQLSTATE, constraint) covers every client path.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.exc import DBAPIError


class HotelError(Exception):
    """Something the user can fix; the message says what was wrong and how to fix it.

    Every package raises it (or a subclass) for such failures, and `hotel` prints its message
    as one line with exit code 1.
    """


class HotelRuleError(Exception):
    """A business rule refused the request; the message is meant for a person."""


class NotFound(HotelRuleError):
    pass


class InvalidRequest(HotelRuleError):
    pass


class IdempotencyKeyReused(InvalidRequest):
    """A key already answered another request: replaying it would hide the difference."""


class BookingConflict(HotelRuleError):
    pass


class RoomUnavailable(HotelRuleError):
    pass


class CapacityExceeded(HotelRuleError):
    pass


class InvalidTransition(HotelRuleError):
    pass


class Overpayment(HotelRuleError):
    pass


class PaymentImmutable(HotelRuleError):
    pass


class InsufficientBonus(HotelRuleError):
    pass


class LedgerImmutable(HotelRuleError):
    pass


class ReviewNotAllowed(HotelRuleError):
    pass


FOREIGN_KEY_VIOLATION = "23503"

# constraint name -> (error class, message when the database's own text is not for people)
CONSTRAINTS: dict[str, tuple[type[HotelRuleError], str | None]] = {
    "ex_bookings_no_overlap": (BookingConflict, "the room is already booked for these dates"),
    "bookings_capacity": (CapacityExceeded, None),
    "bookings_room_available": (RoomUnavailable, None),
    "bookings_status_transition": (InvalidTransition, None),
    "payments_within_total": (Overpayment, None),
    "payments_append_only": (PaymentImmutable, None),
    "payments_status_transition": (InvalidTransition, None),
    "ck_bonus_accounts_nonnegative_balance": (
        InsufficientBonus,
        "not enough bonus points on the account",
    ),
    "bonus_ledger_append_only": (LedgerImmutable, None),
    "bonus_points_need_account": (InsufficientBonus, None),
    "reviews_completed_stay": (ReviewNotAllowed, None),
    "ck_reviews_rating_range": (InvalidRequest, "a rating is a whole number from 1 to 5"),
    "uq_reviews_booking_id": (ReviewNotAllowed, "this stay has already been reviewed"),
}


def translate(exc: DBAPIError) -> HotelRuleError | None:
    """The typed error for a database error, or None when it is not a business rule."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if getattr(orig, "sqlstate", None) == FOREIGN_KEY_VIOLATION:
        # e.g. 'Key (method_id)=(9) is not present in table "payment_methods".'
        return NotFound(getattr(diag, "message_detail", None) or str(orig))
    if constraint not in CONSTRAINTS:
        return None
    error_class, message = CONSTRAINTS[constraint]
    primary = getattr(diag, "message_primary", None) or str(orig)
    return error_class(message or primary)


@contextmanager
def translated() -> Iterator[None]:
    """Re-raise database errors that are rule violations as their typed errors."""
    try:
        yield
    except DBAPIError as exc:
        error = translate(exc)
        if error is None:
            raise
        raise error from exc
