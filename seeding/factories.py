"""factory_boy factories for every model: small, valid data for tests.

Rows go through the session, so the rule triggers fire: factories build what the rules
accept (a booking is inserted pending and then moved along the status machine, payments
match prices, ledger entries move balances). Bind them to a session with `bind(session)`
(tests: a fixture around the savepoint-rollback `session`); Faker's locale is
HOTEL_SEED_LOCALE unless overridden with `factory.Faker.override_default_locale`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import factory
from factory.alchemy import SQLAlchemyModelFactory
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hotel_models import (
    AdoptionIdMap,
    AdoptionQuarantine,
    Amenity,
    AuditLog,
    BonusAccount,
    BonusTransaction,
    Booking,
    BookingService,
    BookingStatusHistory,
    BookingStatusRollup,
    Facility,
    GuestSpending,
    Hotel,
    HotelAmenity,
    LoyaltyConfig,
    Partner,
    PartnerType,
    Payment,
    PaymentMethod,
    RevenueRollup,
    Review,
    Room,
    RoomFacility,
    RoomRate,
    Service,
    User,
    UserPaymentMethod,
)
from hotel_models.enums import (
    AuditOperation,
    BonusKind,
    BookingStatus,
    PaymentStatus,
    RateKind,
    RoomType,
)
from seeding.plan import AMENITIES, FACILITIES, SERVICES

FAKE_HASH = "$argon2id$v=19$m=65536,t=3,p=4$factory"

# The status machine's path from pending to each status (the guard trigger refuses jumps).
PATHS: dict[BookingStatus, tuple[BookingStatus, ...]] = {
    BookingStatus.PENDING: (),
    BookingStatus.CONFIRMED: (BookingStatus.CONFIRMED,),
    BookingStatus.CHECKED_IN: (BookingStatus.CONFIRMED, BookingStatus.CHECKED_IN),
    BookingStatus.COMPLETED: (
        BookingStatus.CONFIRMED,
        BookingStatus.CHECKED_IN,
        BookingStatus.COMPLETED,
    ),
    BookingStatus.CANCELLED: (BookingStatus.CANCELLED,),
}


def _named(names: tuple[str, ...]) -> factory.LazyAttributeSequence:
    """Names from a realistic list, numbered once the list is used up (they are unique)."""
    return factory.LazyAttributeSequence(
        lambda _, n: names[n % len(names)] + (f" {n // len(names) + 1}" if n >= len(names) else "")
    )


class BaseFactory(SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_persistence = "flush"


class PartnerTypeFactory(BaseFactory):
    class Meta:
        model = PartnerType

    code = factory.Sequence(lambda n: f"type{n}")
    name = factory.Faker("catch_phrase")


class PartnerFactory(BaseFactory):
    class Meta:
        model = Partner

    class Params:
        handle = factory.Faker("user_name")

    partner_type = factory.SubFactory(PartnerTypeFactory)
    partner_type_id = factory.SelfAttribute("partner_type.id")
    name = factory.Faker("company")
    login = factory.LazyAttributeSequence(lambda o, n: f"{o.handle}.p{n}")
    email = factory.LazyAttribute(lambda o: f"{o.login}@example.org")
    phone = factory.Faker("phone_number")
    password_hash = FAKE_HASH

    @classmethod
    def _adjust_kwargs(cls, **kwargs: Any) -> dict[str, Any]:
        kwargs.pop("partner_type", None)  # the id is enough; Partner has no such relationship
        return kwargs


class HotelFactory(BaseFactory):
    class Meta:
        model = Hotel

    partner = factory.SubFactory(PartnerFactory)
    city = factory.Faker("city")
    address = factory.LazyAttribute(lambda o: f"{o.city}, {o.street}")
    phone = factory.Faker("phone_number")
    email = factory.Sequence(lambda n: f"hotel{n}@example.org")
    description = factory.Faker("sentence", nb_words=12)
    stars = factory.Faker("random_int", min=1, max=5)

    class Params:
        street = factory.Faker("street_address")
        surname = factory.Faker("last_name")

    name = factory.LazyAttribute(lambda o: f"Hotel {o.surname}")


class AmenityFactory(BaseFactory):
    class Meta:
        model = Amenity

    name = _named(AMENITIES)


class HotelAmenityFactory(BaseFactory):
    class Meta:
        model = HotelAmenity

    class Params:
        hotel = factory.SubFactory(HotelFactory)
        amenity = factory.SubFactory(AmenityFactory)

    hotel_id = factory.SelfAttribute("hotel.id")
    amenity_id = factory.SelfAttribute("amenity.id")


class UserFactory(BaseFactory):
    class Meta:
        model = User

    class Params:
        handle = factory.Faker("user_name")

    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    login = factory.LazyAttributeSequence(lambda o, n: f"{o.handle}{n}")
    email = factory.LazyAttribute(lambda o: f"{o.login}@example.org")
    phone = factory.Faker("phone_number")
    password_hash = FAKE_HASH


class PaymentMethodFactory(BaseFactory):
    class Meta:
        model = PaymentMethod

    code = factory.Sequence(lambda n: f"method{n}")
    name = factory.Iterator(["Bank card", "Faster payments", "E-wallet", "Bank transfer"])


class UserPaymentMethodFactory(BaseFactory):
    class Meta:
        model = UserPaymentMethod

    class Params:
        user = factory.SubFactory(UserFactory)
        method = factory.SubFactory(PaymentMethodFactory)

    user_id = factory.SelfAttribute("user.id")
    method_id = factory.SelfAttribute("method.id")
    details = factory.LazyFunction(lambda: {"last4": "4242"})
    is_default = True


class RoomFactory(BaseFactory):
    class Meta:
        model = Room

    hotel = factory.SubFactory(HotelFactory)
    number = factory.Sequence(lambda n: str(100 + n))
    room_type = RoomType.DOUBLE
    capacity = 2
    price = factory.Faker(
        "pydecimal", left_digits=4, right_digits=2, min_value=1500, max_value=9000
    )


class RoomRateFactory(BaseFactory):
    class Meta:
        model = RoomRate

    room = factory.SubFactory(RoomFactory)
    kind = RateKind.SEASONAL
    name = "Summer"
    starts_on = date(2026, 6, 1)
    ends_on = date(2026, 9, 1)
    price = factory.LazyAttribute(lambda o: (o.room.price * Decimal("1.25")).quantize(Decimal(1)))


class FacilityFactory(BaseFactory):
    class Meta:
        model = Facility

    name = _named(FACILITIES)


class RoomFacilityFactory(BaseFactory):
    class Meta:
        model = RoomFacility

    class Params:
        room = factory.SubFactory(RoomFactory)
        facility = factory.SubFactory(FacilityFactory)

    room_id = factory.SelfAttribute("room.id")
    facility_id = factory.SelfAttribute("facility.id")


class ServiceFactory(BaseFactory):
    class Meta:
        model = Service

    hotel = factory.SubFactory(HotelFactory)
    name = _named(tuple(s[0] for s in SERVICES))
    description = factory.Faker("sentence", nb_words=6)
    price = Decimal(900)


class BookingFactory(BaseFactory):
    """`BookingFactory(status=BookingStatus.COMPLETED)` inserts it pending (the only way in)
    and moves it along the status machine, as the service would."""

    class Meta:
        model = Booking

    class Params:
        nights = 3

    user = factory.SubFactory(UserFactory)
    room = factory.SubFactory(RoomFactory)
    check_in = factory.Sequence(lambda n: date(2026, 1, 1) + timedelta(days=4 * n))
    check_out = factory.LazyAttribute(lambda o: o.check_in + timedelta(days=o.nights))
    guests = factory.LazyAttribute(lambda o: o.room.capacity)
    total_price = factory.LazyAttribute(lambda o: o.room.price * o.nights)

    @classmethod
    def _create(cls, model_class: type[Booking], *args: Any, **kwargs: Any) -> Booking:
        status = BookingStatus(kwargs.pop("status", BookingStatus.PENDING))
        booking: Booking = super()._create(model_class, *args, **kwargs)
        session: Session = cls._meta.sqlalchemy_session  # type: ignore[attr-defined]
        for step in PATHS[status]:
            session.execute(
                update(Booking)
                .where(Booking.id == booking.id)
                .values(status=step)
                .execution_options(synchronize_session=False)
            )
        session.expire(booking, ["status", "paid_state", "updated_at"])
        return booking


class BookingServiceFactory(BaseFactory):
    class Meta:
        model = BookingService

    class Params:
        booking = factory.SubFactory(BookingFactory)
        service = factory.SubFactory(
            ServiceFactory, hotel=factory.SelfAttribute("..booking.room.hotel")
        )

    booking_id = factory.SelfAttribute("booking.id")
    service_id = factory.SelfAttribute("service.id")
    price = factory.SelfAttribute("service.price")


class BookingStatusHistoryFactory(BaseFactory):
    """History is written by the database: this makes a booking and returns its newest
    history row (a hand-made row would contradict the booking)."""

    class Meta:
        model = BookingStatusHistory

    class Params:
        booking = factory.SubFactory(BookingFactory, status=BookingStatus.CONFIRMED)

    booking_id = factory.SelfAttribute("booking.id")

    @classmethod
    def _create(
        cls, model_class: type[BookingStatusHistory], *args: Any, **kwargs: Any
    ) -> BookingStatusHistory:
        session: Session = cls._meta.sqlalchemy_session  # type: ignore[attr-defined]
        row = session.scalars(
            select(model_class)
            .where(model_class.booking_id == kwargs["booking_id"])
            .order_by(model_class.id.desc())
        ).first()
        assert row is not None, "the history trigger wrote no row"
        return row


class PaymentFactory(BaseFactory):
    """A completed payment of the whole price (paid_state follows by trigger)."""

    class Meta:
        model = Payment

    class Params:
        method = factory.SubFactory(PaymentMethodFactory)

    booking = factory.SubFactory(BookingFactory, status=BookingStatus.CONFIRMED)
    method_id = factory.SelfAttribute("method.id")
    amount = factory.SelfAttribute("booking.total_price")
    status = PaymentStatus.COMPLETED


class GuestSpendingFactory(BaseFactory):
    """Spending is kept by the database: this makes a completed payment and returns its
    guest's row (a hand-made row would contradict the payments)."""

    class Meta:
        model = GuestSpending

    class Params:
        payment = factory.SubFactory(PaymentFactory)

    user_id = factory.SelfAttribute("payment.booking.user.id")

    @classmethod
    def _create(cls, model_class: type[GuestSpending], *args: Any, **kwargs: Any) -> GuestSpending:
        session: Session = cls._meta.sqlalchemy_session  # type: ignore[attr-defined]
        row = session.get(model_class, kwargs["user_id"], populate_existing=True)
        assert row is not None, "the spending trigger wrote no row"
        return row


class RollupFactory(BaseFactory):
    """A rollup is kept by the database: the factory makes what it sums (its Params) and
    returns the newest delta row the trigger wrote for the declared key (a hand-made row
    would contradict the base tables)."""

    class Meta:
        abstract = True

    @classmethod
    def _create(cls, model_class: Any, *args: Any, **kwargs: Any) -> Any:
        session: Session = cls._meta.sqlalchemy_session  # type: ignore[attr-defined]
        session.flush()
        newest = select(model_class).filter_by(**kwargs).order_by(model_class.id.desc())
        row = session.scalars(newest.limit(1)).first()
        assert row is not None, "the rollup trigger wrote no row"
        return row


class BookingStatusRollupFactory(RollupFactory):
    """The delta row of a new booking's status."""

    class Meta:
        model = BookingStatusRollup

    class Params:
        booking = factory.SubFactory(BookingFactory)

    status = factory.SelfAttribute("booking.status")


class RevenueRollupFactory(RollupFactory):
    """The delta row of a completed payment's hotel city."""

    class Meta:
        model = RevenueRollup

    class Params:
        payment = factory.SubFactory(PaymentFactory)

    city = factory.SelfAttribute("payment.booking.room.hotel.city")


class BonusAccountFactory(BaseFactory):
    """Balance 0: it only moves through ledger entries."""

    class Meta:
        model = BonusAccount

    class Params:
        user = factory.SubFactory(UserFactory)

    user_id = factory.SelfAttribute("user.id")


class BonusTransactionFactory(BaseFactory):
    """A promo credit; the ledger trigger moves the account's balance."""

    class Meta:
        model = BonusTransaction

    class Params:
        account = factory.SubFactory(BonusAccountFactory)

    account_id = factory.SelfAttribute("account.id")
    amount = 500
    kind = BonusKind.PROMO
    description = "welcome bonus"


class LoyaltyConfigFactory(BaseFactory):
    """The programme's single settings row (migrations create it): get, not create."""

    class Meta:
        model = LoyaltyConfig
        sqlalchemy_get_or_create = ("id",)

    id = True


class ReviewFactory(BaseFactory):
    """A review of a completed stay by its guest; hotels.rating follows by trigger."""

    class Meta:
        model = Review

    class Params:
        stay = factory.SubFactory(BookingFactory, status=BookingStatus.COMPLETED)

    booking_id = factory.SelfAttribute("stay.id")
    user_id = factory.SelfAttribute("stay.user.id")
    hotel_id = factory.SelfAttribute("stay.room.hotel.id")
    rating = factory.Faker("random_int", min=3, max=5)
    comment = factory.Faker("sentence", nb_words=10)


class AuditLogFactory(BaseFactory):
    class Meta:
        model = AuditLog

    table_name = "hotels"
    operation = AuditOperation.INSERT
    row_pk = factory.Sequence(lambda n: {"id": n})
    old_row = None
    new_row = factory.LazyAttribute(lambda o: {"id": o.row_pk["id"], "name": "Seaview"})


class AdoptionQuarantineFactory(BaseFactory):
    """A row of the earlier system `hotel adopt` could not carry over."""

    class Meta:
        model = AdoptionQuarantine

    source_table = "booking"
    old_id = factory.Sequence(lambda n: n + 1)
    reason = "invalid_stay"
    detail = "2024-05-02 to 2024-05-01"
    old_row = factory.LazyAttribute(lambda o: {"booking_id": o.old_id, "guests_number": 2})


class AdoptionIdMapFactory(BaseFactory):
    class Meta:
        model = AdoptionIdMap

    source_table = "additional_service"
    old_id = factory.Sequence(lambda n: n + 1)
    new_id = factory.Sequence(lambda n: n + 1)


FACTORIES: tuple[type[BaseFactory], ...] = (
    PartnerTypeFactory,
    PartnerFactory,
    HotelFactory,
    AmenityFactory,
    HotelAmenityFactory,
    UserFactory,
    PaymentMethodFactory,
    UserPaymentMethodFactory,
    RoomFactory,
    RoomRateFactory,
    FacilityFactory,
    RoomFacilityFactory,
    ServiceFactory,
    BookingFactory,
    BookingServiceFactory,
    BookingStatusHistoryFactory,
    PaymentFactory,
    GuestSpendingFactory,
    BookingStatusRollupFactory,
    RevenueRollupFactory,
    BonusAccountFactory,
    BonusTransactionFactory,
    LoyaltyConfigFactory,
    ReviewFactory,
    AuditLogFactory,
    AdoptionQuarantineFactory,
    AdoptionIdMapFactory,
)


def bind(session: Session | None) -> None:
    """Point every factory at `session` (None unbinds)."""
    for factory_class in FACTORIES:
        factory_class._meta.sqlalchemy_session = session  # type: ignore[attr-defined]
