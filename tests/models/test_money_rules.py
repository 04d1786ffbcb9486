"""Payments, the loyalty ledger and reviews: each rule tried through plain SQL as hotel_app."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.models.world import World, as_app, insert_booking, refused, violates


def sql(session: Session, statement: str, **params: Any) -> Any:
    return session.execute(text(statement), params)


def pay(
    session: Session, world: World, booking: int, amount: int, status: str = "completed"
) -> int:
    return int(
        sql(
            session,
            "INSERT INTO payments (booking_id, method_id, amount, status) "
            "VALUES (:b, :m, :a, :s) RETURNING id",
            b=booking,
            m=world.method.id,
            a=amount,
            s=status,
        ).scalar_one()
    )


def paid_state(session: Session, booking: int) -> str:
    return str(sql(session, "SELECT paid_state FROM bookings WHERE id = :id", id=booking).scalar())


def balance(session: Session, world: World) -> int:
    return int(
        sql(
            session, "SELECT balance FROM bonus_accounts WHERE id = :id", id=world.account.id
        ).scalar_one()
    )


def credit(session: Session, world: World, amount: int, kind: str = "promo") -> None:
    sql(
        session,
        "INSERT INTO bonus_transactions (account_id, amount, kind) VALUES (:a, :n, :k)",
        a=world.account.id,
        n=amount,
        k=kind,
    )


def test_paid_state_follows_payments_and_overpayment_is_refused(
    session: Session, world: World
) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2031-01-01", "2031-01-03", total_price=200)
    assert paid_state(session, booking) == "unpaid"
    sql(session, "UPDATE bookings SET paid_state = 'paid' WHERE id = :id", id=booking)
    assert paid_state(session, booking) == "unpaid"  # derived, a client cannot set it
    pay(session, world, booking, 50, status="failed")
    assert paid_state(session, booking) == "unpaid"
    pay(session, world, booking, 120)
    assert paid_state(session, booking) == "partially_paid"
    with violates(session, "payments_within_total"):
        pay(session, world, booking, 81)
    last = pay(session, world, booking, 80)
    assert paid_state(session, booking) == "paid"
    sql(session, "UPDATE payments SET status = 'refunded' WHERE id = :id", id=last)
    assert paid_state(session, booking) == "partially_paid"


def test_a_paid_state_change_stamps_the_booking(session: Session, world: World) -> None:
    """A payment's paid-state recomputation, run only when the state moves, does not fire
    bookings_guard (0029): the paid-state trigger stamps updated_at itself."""
    booking = insert_booking(session, world, "2031-02-01", "2031-02-03", total_price=200)
    sql(session, "SET LOCAL session_replication_role = replica")  # backdated past the guard
    sql(session, "UPDATE bookings SET updated_at = '2001-01-01' WHERE id = :id", id=booking)
    sql(session, "SET LOCAL session_replication_role = origin")
    as_app(session)

    def stamped() -> bool:
        query = "SELECT updated_at = now() FROM bookings WHERE id = :id"
        return bool(sql(session, query, id=booking).scalar_one())

    pay(session, world, booking, 50, status="failed")
    assert not stamped()
    pay(session, world, booking, 50)
    assert stamped()


def test_payments_are_never_deleted_or_rewritten(session: Session, world: World) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2031-02-01", "2031-02-03", total_price=200)
    payment = pay(session, world, booking, 100)
    with violates(session, "payments_append_only"):
        sql(session, "DELETE FROM payments WHERE id = :id", id=payment)
    with violates(session, "payments_append_only"):
        sql(session, "UPDATE payments SET amount = 1 WHERE id = :id", id=payment)
    with violates(session, "payments_status_transition"):
        sql(session, "UPDATE payments SET status = 'pending' WHERE id = :id", id=payment)


def test_ledger_keeps_the_balance_and_refuses_overspend(session: Session, world: World) -> None:
    as_app(session)
    credit(session, world, 100)
    credit(session, world, -30, kind="spend")
    assert balance(session, world) == 70
    with violates(session, "ck_bonus_accounts_nonnegative_balance"):
        credit(session, world, -71, kind="spend")
    assert balance(session, world) == 70
    with violates(session, "bonus_ledger_append_only"):
        sql(session, "UPDATE bonus_accounts SET balance = 1000 WHERE id = :id", id=world.account.id)
    with violates(session, "bonus_ledger_append_only"):
        sql(session, "DELETE FROM bonus_transactions")
    with violates(session, "bonus_ledger_append_only"):
        sql(session, "UPDATE bonus_transactions SET amount = 1000")
    total = sql(
        session,
        "SELECT sum(amount) FROM bonus_transactions WHERE account_id = :id",
        id=world.account.id,
    ).scalar_one()
    assert total == balance(session, world) == 70


def test_points_spent_on_booking_returned_on_cancel_earned_when_paid(
    session: Session, world: World
) -> None:
    as_app(session)
    credit(session, world, 50)
    with violates(session, "ck_bonus_accounts_nonnegative_balance"):
        insert_booking(session, world, "2031-03-01", "2031-03-03", bonus_points_used=51)
    booking = insert_booking(session, world, "2031-03-01", "2031-03-03", bonus_points_used=40)
    assert balance(session, world) == 10
    sql(session, "UPDATE bookings SET status = 'cancelled' WHERE id = :id", id=booking)
    assert balance(session, world) == 50
    paid = insert_booking(session, world, "2031-04-01", "2031-04-03", total_price=300)
    pay(session, world, paid, 300)
    assert balance(session, world) == 50 + 15  # 5 % of 300 (loyalty_config.earn_percent)
    kinds = sql(
        session,
        "SELECT kind::text, amount FROM bonus_transactions WHERE account_id = :id ORDER BY id",
        id=world.account.id,
    ).all()
    assert [tuple(k) for k in kinds] == [
        ("promo", 50),
        ("spend", -40),
        ("return", 40),
        ("earn", 15),
    ]


def test_points_need_an_account(session: Session, world: World) -> None:
    as_app(session)
    with violates(session, "bonus_points_need_account"):
        insert_booking(
            session,
            world,
            "2031-05-01",
            "2031-05-02",
            user_id=world.other_guest.id,
            bonus_points_used=1,
        )


def _complete(session: Session, booking: int) -> None:
    for status in ("confirmed", "checked_in", "completed"):
        sql(session, "UPDATE bookings SET status = :s WHERE id = :id", s=status, id=booking)


def review(
    session: Session, world: World, booking: int, rating: int, user: int | None = None
) -> None:
    sql(
        session,
        "INSERT INTO reviews (booking_id, user_id, hotel_id, rating) VALUES (:b, :u, :h, :r)",
        b=booking,
        u=user or world.guest.id,
        h=world.hotel.id,
        r=rating,
    )


def test_only_the_guest_of_a_completed_stay_reviews_it_once(session: Session, world: World) -> None:
    as_app(session)
    booking = insert_booking(session, world, "2031-06-01", "2031-06-03")
    with violates(session, "reviews_completed_stay"):
        review(session, world, booking, 5)  # not stayed yet
    _complete(session, booking)
    with violates(session, "reviews_completed_stay"):
        review(session, world, booking, 5, user=world.other_guest.id)
    review(session, world, booking, 4)
    with violates(session, "uq_reviews_booking_id"):
        review(session, world, booking, 5)


def test_hotel_rating_is_the_average_of_its_reviews(session: Session, world: World) -> None:
    as_app(session)

    def rating() -> Any:
        return sql(session, "SELECT rating FROM hotels WHERE id = :id", id=world.hotel.id).scalar()

    stays = [insert_booking(session, world, f"2031-07-0{i}", f"2031-07-0{i + 1}") for i in (1, 3)]
    for stay in stays:
        _complete(session, stay)
    review(session, world, stays[0], 5)
    assert rating() == 5
    review(session, world, stays[1], 2)
    assert float(rating()) == 3.5
    sql(session, "UPDATE hotels SET rating = 5 WHERE id = :id", id=world.hotel.id)
    assert float(rating()) == 3.5  # derived (0028): a client cannot set it
    sql(session, "UPDATE reviews SET rating = 4 WHERE booking_id = :b", b=stays[1])
    assert float(rating()) == 4.5
    sql(session, "DELETE FROM reviews")
    assert rating() is None


def test_the_earn_rate_is_configured_in_the_database(session: Session, world: World) -> None:
    sql(session, "UPDATE loyalty_config SET earn_percent = 10")  # as the owner
    as_app(session)
    booking = insert_booking(session, world, "2031-08-01", "2031-08-02", total_price=250)
    pay(session, world, booking, 250)
    assert balance(session, world) == 25
    refused(session, "UPDATE loyalty_config SET earn_percent = 100")


def spending(session: Session, guest: int) -> int:
    row = sql(session, "SELECT completed FROM guest_spending WHERE user_id = :u", u=guest)
    return int(row.scalar() or 0)


def test_guest_spending_follows_completed_payments(session: Session, world: World) -> None:
    """Completions add, refunds and failed payments do not, a booking that changes hands
    takes its payments along: always the sum of the guest's completed payments."""
    as_app(session)
    guest, other = world.guest.id, world.other_guest.id
    booking = insert_booking(session, world, "2031-05-01", "2031-05-03", total_price=300)
    pay(session, world, booking, 40, status="failed")
    pending = pay(session, world, booking, 60, status="pending")
    assert spending(session, guest) == 0
    pay(session, world, booking, 100)
    assert spending(session, guest) == 100
    sql(session, "UPDATE payments SET status = 'completed' WHERE id = :id", id=pending)
    assert spending(session, guest) == 160
    refunded = pay(session, world, booking, 50)
    sql(session, "UPDATE payments SET status = 'refunded' WHERE id = :id", id=refunded)
    assert spending(session, guest) == 160
    sql(session, "UPDATE bookings SET user_id = :o WHERE id = :b", o=other, b=booking)
    assert (spending(session, guest), spending(session, other)) == (0, 160)
