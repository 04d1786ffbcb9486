"""The hotel-booking schema as SQLAlchemy 2 models, with what every other package builds on:
the service's transactions (operations), the rule checker, roles, settings and HotelError.
Imports no other package of ours."""

from hotel_models.adoption import AdoptionIdMap, AdoptionQuarantine
from hotel_models.audit import AuditLog
from hotel_models.base import Base
from hotel_models.bookings import (
    Booking,
    BookingService,
    BookingStatusHistory,
    GuestSpending,
    Payment,
)
from hotel_models.guests import PaymentMethod, User, UserPaymentMethod
from hotel_models.loyalty import BonusAccount, BonusTransaction, LoyaltyConfig
from hotel_models.partners import Amenity, Hotel, HotelAmenity, Partner, PartnerType
from hotel_models.reviews import Review
from hotel_models.rollups import BookingStatusRollup, RevenueRollup
from hotel_models.rooms import Facility, Room, RoomFacility, RoomRate, Service

metadata = Base.metadata

__all__ = [
    "AdoptionIdMap",
    "AdoptionQuarantine",
    "Amenity",
    "AuditLog",
    "Base",
    "BonusAccount",
    "BonusTransaction",
    "Booking",
    "BookingService",
    "BookingStatusHistory",
    "BookingStatusRollup",
    "Facility",
    "GuestSpending",
    "Hotel",
    "HotelAmenity",
    "LoyaltyConfig",
    "Partner",
    "PartnerType",
    "Payment",
    "PaymentMethod",
    "RevenueRollup",
    "Review",
    "Room",
    "RoomFacility",
    "RoomRate",
    "Service",
    "User",
    "UserPaymentMethod",
    "metadata",
]
