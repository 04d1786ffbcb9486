"""Every factory builds a row the rule triggers accept, and the whole result is valid."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from hotel_models import BonusAccount, Booking, BookingStatusHistory, GuestSpending, Hotel
from hotel_models.checker import check
from hotel_models.enums import BookingStatus, PaidState
from seeding.factories import (
    FACTORIES,
    BaseFactory,
    BonusTransactionFactory,
    BookingFactory,
    PaymentFactory,
    ReviewFactory,
)


@pytest.mark.parametrize("factory_class", FACTORIES, ids=lambda f: f.__name__)
def test_every_factory_builds_a_valid_row(
    factories: Session, factory_class: type[BaseFactory]
) -> None:
    first, second = factory_class.create(), factory_class.create()
    factories.flush()
    # In the database (flushed through the triggers), not just built.
    assert inspect(first).persistent
    assert inspect(second).persistent
    assert check(factories.connection()) == []


@pytest.mark.parametrize("status", list(BookingStatus))
def test_bookings_reach_a_status_through_the_machine(
    factories: Session, status: BookingStatus
) -> None:
    booking = BookingFactory.create(status=status)
    assert booking.status == status
    history = factories.execute(
        select(BookingStatusHistory.old_status, BookingStatusHistory.new_status)
        .where(BookingStatusHistory.booking_id == booking.id)
        .order_by(BookingStatusHistory.id)
    ).all()
    assert history[0] == (None, BookingStatus.PENDING)
    assert history[-1][1] == status


def test_derived_state_follows_the_factories(factories: Session) -> None:
    payment = PaymentFactory.create()
    factories.expire_all()
    booking = factories.get(Booking, payment.booking_id)
    assert booking.paid_state == PaidState.PAID  # type: ignore[union-attr]
    spent = factories.get(GuestSpending, booking.user_id)  # type: ignore[union-attr]
    assert spent.completed == payment.amount  # type: ignore[union-attr]
    entry = BonusTransactionFactory.create()
    factories.expire_all()
    assert factories.get(BonusAccount, entry.account_id).balance == 500  # type: ignore[union-attr]
    review = ReviewFactory.create(rating=4)
    factories.expire_all()
    assert factories.get(Hotel, review.hotel_id).rating == 4  # type: ignore[union-attr]
    assert check(factories.connection()) == []


def test_locale_follows_the_setting(factories: Session) -> None:
    import factory

    from seeding.factories import UserFactory

    with factory.Faker.override_default_locale("ru_RU"):
        russian = UserFactory.create()
    with factory.Faker.override_default_locale("en_US"):
        english = UserFactory.create()
    assert any("\u0400" <= ch <= "\u04ff" for ch in russian.last_name)
    assert english.last_name.isascii()


def test_there_is_a_factory_for_every_model() -> None:
    from hotel_models import Base

    models = {mapper.class_ for mapper in Base.registry.mappers}
    assert {f._meta.model for f in FACTORIES} == models
