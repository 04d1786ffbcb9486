"""Domain enumerations, stored as named PostgreSQL enum types."""

from __future__ import annotations

import enum


class RoomType(enum.StrEnum):
    SINGLE = "single"
    DOUBLE = "double"
    TWIN = "twin"
    TRIPLE = "triple"
    FAMILY = "family"
    SUITE = "suite"


class RoomStatus(enum.StrEnum):
    """Booked is not a status: it is derived from bookings."""

    AVAILABLE = "available"
    MAINTENANCE = "maintenance"


class RateKind(enum.StrEnum):
    SEASONAL = "seasonal"
    DISCOUNT = "discount"


class BookingStatus(enum.StrEnum):
    """The earlier system's new / in_process / done / canceled, named for what they mean."""

    PENDING = "pending"
    CONFIRMED = "confirmed"
    CHECKED_IN = "checked_in"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class PaymentOption(enum.StrEnum):
    FULL = "full"
    PARTIAL = "partial"
    ON_ARRIVAL = "on_arrival"


class PaidState(enum.StrEnum):
    UNPAID = "unpaid"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"


class PaymentStatus(enum.StrEnum):
    PENDING = "pending"
    COMPLETED = "completed"
    FAILED = "failed"
    REFUNDED = "refunded"


class BonusKind(enum.StrEnum):
    EARN = "earn"
    SPEND = "spend"
    RETURN = "return"
    PROMO = "promo"


class AuditOperation(enum.StrEnum):
    INSERT = "INSERT"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
