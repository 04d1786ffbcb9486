"""The query catalogue: every statement the load generator's journeys and the analyst
reports run, in one place, each with representative parameters drawn from the seeded data.

`hotel explain` plans and times them (loadtest/explain.py); the plan tests assert that each
lookup uses the indexes named here. The SQL itself lives in loadtest/queries.py, so what is
explained is exactly what the load runs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from hotel_models.settings import libpq_url
from loadtest import queries as q
from loadtest.db import Pool
from loadtest.runner import ROOM_TYPES, Catalog, sample_catalog


@dataclass(frozen=True)
class Sample:
    """What the parameters are drawn from: the load generator's own sample of the data
    (cities by rooms, stays like existing bookings, ...) and bookings by state."""

    catalog: Catalog
    rooms: list[int]  # available rooms
    pending: list[int]  # bookings a guest may still pay, move or cancel
    completed: list[int]  # completed stays without a review yet
    codes: list[str]  # booking codes, as guests type them in

    def city(self, rng: random.Random) -> str:
        return rng.choices(self.catalog.cities, cum_weights=self.catalog.city_cum_weights)[0]

    def stay(self, rng: random.Random) -> dict[str, Any]:
        c = self.catalog
        i = rng.randrange(len(c.offsets))
        check_in = date.today() + timedelta(days=c.offsets[i])
        nights = max(1, c.nights[i])
        return {
            "check_in": check_in,
            "check_out": check_in + timedelta(days=nights),
            "guests": c.guests[i],
        }

    def price_range(self, rng: random.Random) -> dict[str, Any]:
        prices = self.catalog.prices or [Decimal(100)]
        low = prices[rng.randrange(len(prices) // 2 + 1)]
        return {"low": low, "high": low * 2, "guests": rng.randint(1, 3)}


Params = Callable[[Sample, random.Random], dict[str, Any]]


@dataclass(frozen=True)
class Query:
    name: str
    operation: str  # the load generator's step that runs it
    sql: str
    params: Params
    role: str = "hotel_app"
    # A point or range lookup: never a sequential scan of bookings, payments or rooms, and
    # each of `indexes` appears in its plan ("a|b": either; tests/loadtest/test_plans.py).
    lookup: bool = False
    indexes: tuple[str, ...] = ()
    # Tables it reads whole by design (a report over every row): no seq-scan flag for them.
    whole: tuple[str, ...] = ()


def _hotel(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"hotel": rng.choice(s.catalog.hotels)}


def _user(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"user": rng.choice(s.catalog.users)}


def _pending(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"booking": rng.choice(s.pending)}


def _search(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"city": s.city(rng), **s.stay(rng), "limit": 20}


def _new_booking(s: Sample, rng: random.Random) -> dict[str, Any]:
    # Far enough ahead that the room is free: the plan of a booking that goes through.
    check_in = date.today() + timedelta(days=500 + rng.randrange(200))
    return {
        "user": rng.choice(s.catalog.users),
        "room": rng.choice(s.rooms),
        "check_in": check_in,
        "check_out": check_in + timedelta(days=rng.randint(1, 5)),
        "guests": 1,
        "option": "full",
        "services": rng.choice(list(s.catalog.services.values()) or [[]])[:2],
        "points": 0,
        "key": f"explain:{rng.getrandbits(64):x}",
    }


def _pay(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {**_pending(s, rng), "share": Decimal(1), "method": rng.choice(s.catalog.methods)}


def _change_dates(s: Sample, rng: random.Random) -> dict[str, Any]:
    check_in = date.today() + timedelta(days=700 + rng.randrange(100))
    return {**_pending(s, rng), "check_in": check_in, "check_out": check_in + timedelta(days=2)}


def _review(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"booking": rng.choice(s.completed), "rating": 4, "comment": "explained"}


def _partner_room(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {
        **_hotel(s, rng),
        "number": f"X{rng.getrandbits(32):x}",
        "type": rng.choice(ROOM_TYPES),
        "capacity": 2,
        "price": Decimal(120),
    }


def _partner_offer(s: Sample, rng: random.Random) -> dict[str, Any]:
    starts = date.today() + timedelta(days=rng.randint(7, 90))
    return {
        **_hotel(s, rng),
        "kind": "seasonal",
        "name": f"explain {rng.getrandbits(32):x}",
        "starts": starts,
        "ends": starts + timedelta(days=14),
        "factor": Decimal("0.9"),
    }


def _partner_service(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {**_hotel(s, rng), "name": f"Explained {rng.getrandbits(32):x}", "price": 20}


def _city(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {"city": s.city(rng)}


def _none(s: Sample, rng: random.Random) -> dict[str, Any]:
    return {}


# Reports that read every row of a table by nature (any index would be read whole too).
WHOLE = {
    "analytic_booking_status": ("booking_status_rollup",),  # every status's rows
    "analytic_top_spenders": ("guest_spending",),  # ranks every guest
}

CATALOGUE: tuple[Query, ...] = (
    Query(
        "search_availability",
        "search_availability",
        q.SEARCH,
        _search,
        lookup=True,
        # The city's free rooms walked cheapest first.
        indexes=(
            "ix_rooms_city_available_price",
            "ex_bookings_no_overlap",
            "ix_room_rates_stay",
        ),
    ),
    Query(
        "hotel_rooms",
        "view_hotel",
        q.HOTEL_ROOMS,
        _hotel,
        lookup=True,
        indexes=("ix_rooms_hotel_id_price_desc",),
    ),
    Query("hotel_amenities", "view_hotel", q.HOTEL_AMENITIES, _hotel, lookup=True),
    Query(
        "hotel_reviews",
        "view_hotel",
        q.HOTEL_REVIEWS,
        _hotel,
        lookup=True,
        indexes=("ix_reviews_hotel_id_created_at",),
    ),
    Query(
        "my_bookings",
        "my_bookings",
        q.USER_BOOKINGS,
        _user,
        lookup=True,
        indexes=("ix_bookings_user_id_id",),
    ),
    Query(
        "booking_by_code",
        "booking_by_code",
        q.BOOKING_BY_CODE,
        lambda s, rng: {"code": rng.choice(s.codes)},
        lookup=True,
        indexes=("uq_bookings_code",),
    ),
    Query(
        "insert_booking",
        "create_booking",
        q.INSERT_BOOKING,
        _new_booking,
        lookup=True,
        indexes=("uq_bookings_idempotency_key",),
    ),
    Query(
        "insert_booking_services",
        "create_booking",
        q.INSERT_BOOKING_SERVICES,
        _new_booking,
        lookup=True,
        indexes=("uq_bookings_idempotency_key",),
    ),
    Query(
        "booking_by_key",
        "create_booking",
        q.BOOKING_BY_KEY,
        _new_booking,
        lookup=True,
        indexes=("uq_bookings_idempotency_key",),
    ),
    Query(
        "pay_due",
        "pay",
        q.PAY_DUE,
        _pay,
        lookup=True,
        indexes=("ix_payments_booking_id_covering",),
    ),
    Query(
        "move_status",
        "pay",
        q.MOVE,
        lambda s, rng: {**_pending(s, rng), "to": "cancelled", "from": ["pending", "confirmed"]},
        lookup=True,
    ),
    Query(
        "earned_points",
        "pay",
        q.EARNED,
        _pending,
        lookup=True,
        indexes=("ix_bonus_transactions_booking_id",),
    ),
    Query("change_dates", "change_dates", q.CHANGE_DATES, _change_dates, lookup=True),
    Query("add_review", "add_review", q.ADD_REVIEW, _review, lookup=True),
    Query("partner_add_room", "partner_add_room", q.PARTNER_ADD_ROOM, _partner_room),
    Query(
        "partner_change_price",
        "partner_change_price",
        q.PARTNER_CHANGE_PRICE,
        lambda s, rng: {**_hotel(s, rng), "factor": Decimal("1.05")},
        lookup=True,
    ),
    Query(
        "partner_add_offer",
        "partner_add_offer",
        q.PARTNER_ADD_OFFER,
        _partner_offer,
        lookup=True,
    ),
    Query(
        "partner_add_service",
        "partner_add_service",
        q.PARTNER_ADD_SERVICE,
        _partner_service,
    ),
    *(
        Query(
            name,
            name,
            sql,
            {
                "analytic_top_rooms": _city,
                "analytic_price_histogram": _city,
                "analytic_available_rooms": lambda s, rng: s.price_range(rng),
            }.get(name, _none),
            role="analytic",
            whole=WHOLE.get(name, ()),
        )
        for name, sql in q.ANALYTIC.items()
    ),
)
BY_NAME = {statement.name: statement for statement in CATALOGUE}


def sample(url: str, seed: int = 0) -> Sample:
    """The load generator's sample of the data, plus bookings by state for the writes."""

    async def load_catalog() -> Catalog:
        pool = Pool(url, 1, role=None)
        try:
            return await sample_catalog(pool)
        finally:
            await pool.close()

    catalog = asyncio.run(load_catalog())
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("SELECT setseed(%s)", [seed / 2**31 % 1])

        def ids(sql: str) -> list[int]:
            return [row[0] for row in conn.execute(sql).fetchall()]

        rooms = ids("SELECT id FROM rooms WHERE status = 'available' ORDER BY random() LIMIT 500")
        pending = ids(
            "SELECT id FROM bookings WHERE status IN ('pending', 'confirmed') "
            "ORDER BY random() LIMIT 500"
        )
        completed = ids(
            "SELECT b.id FROM bookings b WHERE b.status = 'completed' AND NOT EXISTS "
            "(SELECT FROM reviews WHERE booking_id = b.id) ORDER BY random() LIMIT 500"
        )
        codes = [
            row[0] for row in conn.execute("SELECT code FROM bookings ORDER BY random() LIMIT 500")
        ]
    return Sample(catalog, rooms, pending, completed, codes)
