"""Partners (hotel owners, agencies, ...) and their hotels with amenities."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, SmallInteger, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hotel_models.base import AccountMixin, Base, CreatedMixin, IdMixin


class PartnerType(IdMixin, Base):
    __tablename__ = "partner_types"

    code: Mapped[str] = mapped_column(Text, unique=True)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)


class Partner(IdMixin, AccountMixin, CreatedMixin, Base):
    """A partner account, separate from guests; it logs in with its own login."""

    __tablename__ = "partners"

    # RESTRICT: a partner type in use cannot vanish from under its partners.
    partner_type_id: Mapped[int] = mapped_column(
        ForeignKey("partner_types.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    second_name: Mapped[str | None] = mapped_column(Text)

    hotels: Mapped[list[Hotel]] = relationship(back_populates="partner", lazy="raise")


class Hotel(IdMixin, CreatedMixin, Base):
    __tablename__ = "hotels"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating_range"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars_range"),
        Index("ix_hotels_rating_desc", text("rating DESC NULLS LAST")),
        Index("ix_hotels_city", "city"),
    )

    # RESTRICT: deleting a partner must not silently delete hotels that have bookings.
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT"), index=True
    )
    name: Mapped[str] = mapped_column(Text)
    address: Mapped[str] = mapped_column(Text)
    city: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    stars: Mapped[int | None] = mapped_column(SmallInteger)
    # Average of the hotel's reviews; NULL until the first review.
    rating: Mapped[Decimal | None] = mapped_column(Numeric(3, 2))

    partner: Mapped[Partner] = relationship(back_populates="hotels", lazy="raise")
    amenities: Mapped[list[Amenity]] = relationship(secondary="hotel_amenities", lazy="raise")


class Amenity(IdMixin, Base):
    __tablename__ = "amenities"

    name: Mapped[str] = mapped_column(Text, unique=True)
    description: Mapped[str | None] = mapped_column(Text)


class HotelAmenity(Base):
    __tablename__ = "hotel_amenities"
    __table_args__ = (Index(None, "amenity_id"),)

    hotel_id: Mapped[int] = mapped_column(
        ForeignKey("hotels.id", ondelete="CASCADE"), primary_key=True
    )
    amenity_id: Mapped[int] = mapped_column(
        ForeignKey("amenities.id", ondelete="CASCADE"), primary_key=True
    )
