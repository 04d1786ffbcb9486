"""Data of the earlier system's kind, for tests and the benchmark: its seeder wrote random
rows under almost no rule, so this one does too (overlapping stays of one room, guests over
capacity, bonus amounts of random sign, status histories unrelated to the booking, payments
without amounts, reviews by guests who never stayed), plus a sprinkling of the other dirt
years of such code leave (duplicates, orphans, empty columns, card numbers in clear).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection

from seeding.adopt.legacy_schema import columns
from seeding.identity import identity_past_max

ROOM_TYPES = ("single", "double", "twin", "triple", "family", "suite")
STATUSES = ("new", "canceled", "in_process", "done")
CITIES = ("Moscow", "Kazan", "Sochi", "Tver", "Omsk", "Perm", "Tula", "Ufa")
AMENITIES = ("Pool", "Gym", "Spa", "Parking", "Wi-Fi", "Bar", "Sauna", "Garden")
FACILITIES = ("TV", "Fridge", "Safe", "Kettle", "Balcony", "Bathtub")
SERVICES = ("Breakfast", "Transfer", "Late checkout", "Parking spot", "Dinner", "Laundry")


CHUNK = 50_000  # bookings generated (with their histories and payments) per batch


@dataclass(frozen=True)
class Sizes:
    bookings: int

    @property
    def hotels(self) -> int:
        return max(4, self.bookings // 200)

    @property
    def rooms(self) -> int:
        return self.hotels * 10

    @property
    def users(self) -> int:
        return max(20, self.bookings // 5)

    @property
    def partners(self) -> int:
        return max(3, self.hotels // 3)


def _day(today: date, offset: int) -> date:
    return today + timedelta(days=offset)


def rows(
    sizes: Sizes, seed: int = 0, today: date | None = None
) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """(table, rows) in load order, columns as legacy_schema.columns(table); the bookings,
    their histories and payments in batches (a table may come several times)."""
    rnd = random.Random(seed)  # noqa: S311 - test data, not secrets
    today = today or date.today()
    p = rnd.random

    yield (
        "partnertype",
        [
            (1, "Owner", "runs its own hotels"),
            (2, "Agency", None),
            (3, "Corporate", "chains"),
            (4, "agency", "a duplicate code"),
        ],
    )
    yield "partner", [
        (i, None if i == 2 else rnd.randint(1, 4), f"Partner {i}", rnd.choice(("A", None)),
         f"partner{i}@example.org", "+7 900 000 00 00", f"partner{i}")
        for i in range(1, sizes.partners + 1)
    ]  # fmt: skip
    owners = [n for n in range(1, sizes.partners + 1) if n != 2]  # 2 has no type
    hotels = []
    for i in range(1, sizes.hotels + 1):
        rating = 0 if i == 3 else rnd.randint(1, 5)
        description = rnd.choice(("Quiet", None))
        hotels.append(
            (i, rnd.choice(owners), rating, f"Hotel {i}", f"Street {i}", rnd.choice(CITIES),
             None, None, description)
        )  # fmt: skip
    yield "hotel", hotels

    users = []
    for i in range(1, sizes.users + 1):
        login = None if i % 997 == 5 else f"user{i}"
        email = "dup@example.org" if i % 499 in (7, 8) else f"user{i}@example.org"
        account = i if i % 2 == 0 else None
        users.append((i, account, f"Name{i}", f"Surname{i}", email, None, login))
    yield "users", users
    yield "roomfacility", [(i, n, f"{n} in the room") for i, n in enumerate(FACILITIES, 1)]
    capacity: dict[int, int] = {}
    price: dict[int, float] = {}
    rooms = []
    for i in range(1, sizes.rooms + 1):
        capacity[i] = rnd.randint(1, 4)
        price[i] = round(rnd.uniform(20, 400), 2)
        kind = "penthouse" if i % 211 == 3 else rnd.choice(ROOM_TYPES)
        rooms.append(
            (i, (i - 1) // 10 + 1, capacity[i], price[i], rnd.choice(("Sea view", None)), kind)
        )
    yield "room", rooms
    yield "amenity", [(i, n, None) for i, n in enumerate((*AMENITIES, "Pool"), 1)]
    yield "hotelamenity", sorted({(rnd.randint(1, sizes.hotels), rnd.randint(1, len(AMENITIES) + 1))
                                  for _ in range(sizes.hotels * 3)})  # fmt: skip
    yield "roomhasfacility", sorted({(rnd.randint(1, sizes.rooms), rnd.randint(1, len(FACILITIES)))
                                     for _ in range(sizes.rooms * 2)})  # fmt: skip
    yield "paymentmethod", [(1, "Card"), (2, "Cash"), (3, "SBP")]

    bookings: list[tuple[Any, ...]] = []
    payments: list[tuple[Any, ...]] = []
    history: list[tuple[Any, ...]] = []
    pid = hid = 0
    done_by_user_hotel = []
    for i in range(1, sizes.bookings + 1):
        room = rnd.randint(1, sizes.rooms)
        start = rnd.randint(-300, 60)
        nights = rnd.randint(1, 7) if i % 301 != 9 else 0  # some stays end before they start
        status = rnd.choice(STATUSES)
        user = rnd.randint(1, sizes.users) if i % 1009 != 1 else sizes.users + 50  # orphans
        guests = rnd.randint(1, 4)
        cost = None if i % 503 == 11 else round(price[room] * max(nights, 1), 2)
        paid = rnd.choice(("yes", "no"))
        created = _day(today, start - rnd.randint(1, 60))
        payment_id = None
        for _ in range(rnd.choice((0, 1, 1, 2))):
            pid += 1
            linked = i if pid % 7 else None  # some payments link only from the booking
            if linked is None:
                payment_id = pid
            state = rnd.choice(("pending", "completed", "completed", "failed"))
            payments.append((pid, linked, _day(created, 1), rnd.randint(1, 3), state))
        if payment_id is None and pid and i % 97 == 0:
            payment_id = rnd.randint(1, pid)  # the two links disagree
        stay = (_day(today, start), _day(today, start + nights))
        bookings.append((i, user, room, payment_id, *stay, guests, status, cost, created, paid))
        for _ in range(rnd.randint(0, 2)):
            hid += 1
            old = None if p() < 0.3 else rnd.choice(STATUSES)
            history.append((hid, i, old, rnd.choice(STATUSES), _day(created, rnd.randint(0, 30))))
        if status == "done":
            done_by_user_hotel.append((user, (room - 1) // 10 + 1))
        if i % CHUNK == 0 or i == sizes.bookings:  # bounded memory at any size
            yield "booking", bookings
            yield "bookingstatushistory", history
            yield "payment", payments
            bookings, history, payments = [], [], []
    yield "userpaymentmethod", [
        (i, rnd.randint(1, sizes.users), rnd.choice((1, 2, 3, None)),
         rnd.choice(("4276 1234 5678 9012", "+7 912 345 67 89", "cash on arrival", None)))
        for i in range(1, sizes.users // 2 + 1)
    ]  # fmt: skip
    accounts = []
    for i in range(1, sizes.users // 2 + 1):
        # Even users point at the account of their id, which sometimes forgets them (the
        # link runs both ways); odd accounts name a user of the upper half, a few twice.
        if i % 2 == 0:
            owner: int | None = i if p() < 0.7 else None
        else:
            owner = 2 if i % 50 == 1 else sizes.users // 2 + i
        accounts.append((i, owner, None))
    yield "bonus_account", accounts
    yield "bonus_transaction", [
        (i, rnd.randint(1, len(accounts)), _day(today, -rnd.randint(0, 400)),
         round(rnd.uniform(-500, 500), 2), rnd.choice(("earn", "spend", "earn", "gift")))
        for i in range(1, len(accounts) * 3 + 1)
    ]  # fmt: skip
    reviews = []
    for i in range(1, sizes.bookings // 10 + 1):
        if done_by_user_hotel and p() < 0.6:
            user, hotel = rnd.choice(done_by_user_hotel)
        else:
            user, hotel = rnd.randint(1, sizes.users), rnd.randint(1, sizes.hotels)
        reviews.append(
            (i, user, hotel, rnd.choice(("Nice", "Noisy", None)), _day(today, -rnd.randint(0, 300)))
        )
    yield "review", reviews
    names = (*SERVICES, "Breakfast", "Unused")  # a duplicate name, a service never sold
    yield (
        "additional_service",
        [(i, round(rnd.uniform(0, 50), 2), name, None) for i, name in enumerate(names, 1)],
    )
    sold = {
        (rnd.randint(1, sizes.bookings), rnd.randint(1, len(SERVICES) + 1))
        for _ in range(sizes.bookings // 5)
    }
    yield "booking_additional_service", sorted(sold)


def fill(
    conn: Connection, sizes: Sizes, seed: int = 0, today: date | None = None
) -> dict[str, int]:
    """COPY the generated rows into the earlier schema behind `conn` (not committed); the
    SERIAL sequences follow. Returns rows per table."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    written: dict[str, int] = {}
    for table, batch in rows(sizes, seed, today):
        names = columns(table)
        with cursor.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in batch:
                copy.write_row(row)
        written[table] = written.get(table, 0) + len(batch)
        key = (
            names[0]
            if names[0].endswith("_id")
            and table not in ("hotelamenity", "roomhasfacility", "booking_additional_service")
            else None
        )
        if key:
            conn.exec_driver_sql(identity_past_max(table, key))
    return written
