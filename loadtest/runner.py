"""The simulated users: journeys over asyncio, open loop (Poisson arrivals at a target rate)
or closed loop (N users back to back), with honest timing and a self-check of bookings.

Timing: an operation's latency runs from its intended start. For the first step of an
open-loop journey that is its scheduled arrival, so waiting for the event loop or for a free
connection counts (no coordinated omission); later steps start when the previous one ends.

Stopping (the end of `--duration`, or SIGTERM): arrivals stop at once; the journeys in flight
get at most `drain` seconds to finish; then the run halts: no step starts any more, and the
steps still waiting for a connection are abandoned (they never reached the server), while a
step already at the server runs to its end, retries included, so its outcome is known. Only
then, with no journey in flight, are the books checked.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
import resource
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import psycopg

from loadtest import queries as q
from loadtest.db import Abandoned, LoadConnection, LoadError, Pool, classify, unreachable
from loadtest.mix import Mix, load_mix
from loadtest.statements import reset_at as reset_statements
from loadtest.stats import Recorder

T = TypeVar("T")
# psycopg warns for every conflict inside a pipeline ("error ignored terminating ...
# pipeline aborted"): conflicts are counted here, the lines would only flood the terminal.
logging.getLogger("psycopg").setLevel(logging.ERROR)
RETRY_FOR = 30.0  # seconds a step keeps retrying transient errors (a failover takes ~21 s)
DRAIN = 5.0  # seconds the journeys in flight get to finish after arrivals stop
PARTNER_OPS = (
    "partner_add_room",
    "partner_change_price",
    "partner_add_offer",
    "partner_add_service",
)
ROOM_TYPES = ("single", "double", "twin", "triple", "family", "suite")


async def pipelined(
    conn: LoadConnection,
    statements: list[tuple[str, dict[str, Any]]],
) -> list[list[tuple[Any, ...]]]:
    """The statements in one round trip as one transaction (`LoadConnection.run_all`), then
    each statement's rows (empty for a statement without rows)."""
    return [result.rows() for result in await conn.run_all(statements)]


def booking_work(
    params: dict[str, Any], insert: str = q.INSERT_BOOKING
) -> Callable[[LoadConnection], Awaitable[tuple[int, Decimal, bool]]]:
    """create_booking as one transaction in one round trip: (id, price, replayed). Run
    again with the same idempotency key it inserts nothing and returns the first booking.
    `insert`: the catalog's (an earlier schema's) form of INSERT_BOOKING."""
    statements = [(insert, params), (q.BOOKING_BY_KEY, params)]
    if params["services"]:
        statements.insert(1, (q.INSERT_BOOKING_SERVICES, params))

    async def create(conn: LoadConnection) -> tuple[int, Decimal, bool]:
        results = await pipelined(conn, statements)
        booking, total = results[-1][0]
        return booking, total, not results[0]  # nothing inserted: a replay

    return create


class Failed:
    """A step that ended in a conflict or an error, or never ran: the journey stops there."""


FAILED = Failed()
# A step whose last attempt met a transient error (lost connection, shutdown) after its
# retry window, or none: it may or may not have been applied.
UNKNOWN = Failed()


@dataclass
class Catalog:
    """What the journeys choose from, sampled from the database at start so the load
    follows the data's distributions (cities by room count, dates like existing bookings)."""

    cities: list[str]
    city_cum_weights: list[int]  # cumulative: a draw bisects them instead of summing all
    hotels: list[int]
    users: list[int]
    bonus_users: dict[int, int]  # user -> balance at start
    methods: list[int]
    services: dict[int, list[int]]
    offsets: list[int]  # check-in, days from today
    nights: list[int]
    guests: list[int]
    prices: list[Decimal]
    # q.SEARCH and q.INSERT_BOOKING, or their forms on a schema before revision 0025
    search: str
    insert_booking: str


async def sample_catalog(pool: Pool) -> Catalog:
    async with pool.connection() as conn:

        async def rows(sql: str) -> list[tuple[Any, ...]]:
            return await (await conn.execute(sql)).fetchall()

        cities = await rows(
            "SELECT h.city, count(*) FROM rooms r JOIN hotels h ON h.id = r.hotel_id "
            "WHERE r.status = 'available' GROUP BY h.city ORDER BY 2 DESC"
        )
        hotels = [r[0] for r in await rows("SELECT id FROM hotels ORDER BY random() LIMIT 5000")]
        users = [r[0] for r in await rows("SELECT id FROM users ORDER BY random() LIMIT 5000")]
        bonus = await rows(
            "SELECT user_id, balance FROM bonus_accounts WHERE balance > 0 "
            "ORDER BY random() LIMIT 5000"
        )
        methods = [r[0] for r in await rows("SELECT id FROM payment_methods ORDER BY id")]
        services: dict[int, list[int]] = {}
        for hotel, service in await rows(
            "SELECT hotel_id, id FROM services WHERE active AND hotel_id = ANY(ARRAY("
            "SELECT id FROM hotels ORDER BY random() LIMIT 5000))"
        ):
            services.setdefault(hotel, []).append(service)
        stays = await rows(
            "SELECT check_in - current_date, check_out - check_in, guests FROM bookings "
            "WHERE check_in >= current_date ORDER BY random() LIMIT 5000"
        )
        prices = [r[0] for r in await rows("SELECT price FROM rooms ORDER BY random() LIMIT 2000")]
        at_0025 = await rows(
            "SELECT FROM pg_proc WHERE oid = to_regprocedure('stay_nights(date, date)')"
        )
    if not cities or not users or not methods:
        raise LoadError("the database has no rooms, guests or payment methods: seed it first")
    if len(stays) < 20:  # too few bookings to learn from: near dates more likely
        stays = [
            (
                1 + int(random.expovariate(1 / 20)),
                random.choice((1, 1, 2, 2, 3, 4, 7)),
                random.choice((1, 2, 2, 2, 3)),
            )
            for _ in range(500)
        ]
    return Catalog(
        cities=[c[0] for c in cities],
        city_cum_weights=list(itertools.accumulate(c[1] for c in cities)),
        hotels=hotels,
        users=users,
        bonus_users=dict(bonus),
        methods=methods,
        services=services,
        offsets=[max(0, s[0]) for s in stays],
        nights=[s[1] for s in stays],
        guests=[s[2] for s in stays],
        prices=sorted(prices),
        search=q.SEARCH if at_0025 else q.SEARCH_BEFORE_0025,
        insert_booking=q.INSERT_BOOKING if at_0025 else q.INSERT_BOOKING_BEFORE_0025,
    )


@dataclass
class Books:
    """Bookings acknowledged to simulated users, by idempotency key, and the keys whose
    booking request ended without an answer (in doubt: the user was told nothing)."""

    acknowledged: dict[str, int] = field(default_factory=dict)
    in_doubt: set[str] = field(default_factory=set)


class Runner:
    def __init__(
        self,
        primary: Pool,
        replica: Pool,
        mix: Mix,
        recorder: Recorder,
        catalog: Catalog,
        run_id: str,
        seed: int | None = None,
    ) -> None:
        self.primary = primary
        self.replica = replica
        self.mix = mix
        self.rec = recorder
        self.catalog = catalog
        self.run_id = run_id
        self.rng = random.Random(seed)
        self.books = Books()
        self.loop = asyncio.get_running_loop()
        self.tasks: set[asyncio.Task[None]] = set()  # journeys (or closed-loop users) running
        self.halted = False
        self._names = 0
        self.journeys = {
            "guest_browse": self.guest_browse,
            "guest_booking": self.guest_booking,
            "partner": self.partner,
            "analyst": self.analyst,
        }
        kinds = [k for k, w in mix.journeys.items() if w > 0]
        self._kinds, self._weights = kinds, [mix.journeys[k] for k in kinds]

    # -- one step -------------------------------------------------------------------------

    async def step(
        self,
        op: str,
        pool: Pool,
        work: Callable[[LoadConnection], Awaitable[T]],
        intended: float | None = None,
    ) -> T | Failed:
        """Run one operation, retrying transient errors (lost connection, read-only after a
        failover, shutdown) with jittered backoff; record its outcome and latency. Once the
        run halts, a step that has not reached the server is abandoned (FAILED, counted)."""
        if self.halted:
            self.rec.abandoned(op)
            return FAILED
        start = self.loop.time() if intended is None else intended
        backoff = 0.05
        metrics = self.rec.metrics
        metrics.in_flight.inc()
        sent = False
        try:
            while True:
                try:
                    async with pool.connection(abandonable=not sent) as conn:
                        sent = True
                        result = await work(conn)
                except Abandoned:
                    self.rec.abandoned(op)
                    return FAILED
                except Exception as exc:
                    kind, sqlstate_class = classify(exc)
                    self.rec.error(op, sqlstate_class, f"{type(exc).__name__}: {exc}")
                    if kind == "retry" and self.loop.time() - start < RETRY_FOR:
                        self.rec.retry(op)
                        await asyncio.sleep(backoff * (0.5 + self.rng.random()))
                        backoff = min(backoff * 2, 2.0)
                        continue
                    outcome = "conflict" if kind == "conflict" else "error"
                    self.rec.operation(op, outcome, self.loop.time() - start)
                    return UNKNOWN if kind == "retry" else FAILED
                self.rec.operation(op, "ok", self.loop.time() - start)
                return result
        finally:
            metrics.in_flight.dec()

    # -- journeys -------------------------------------------------------------------------

    def _stay(self) -> tuple[str, date, date, int]:
        c, rng = self.catalog, self.rng
        city = rng.choices(c.cities, cum_weights=c.city_cum_weights)[0]
        i = rng.randrange(len(c.offsets))
        check_in = date.today() + timedelta(days=c.offsets[i])
        return city, check_in, check_in + timedelta(days=max(1, c.nights[i])), c.guests[i]

    async def _search(self, intended: float) -> tuple[list[tuple[Any, ...]], date, date, int]:
        city, check_in, check_out, guests = self._stay()
        params = {
            "city": city,
            "check_in": check_in,
            "check_out": check_out,
            "guests": guests,
            "limit": 20,
        }

        async def search(conn: LoadConnection) -> list[tuple[Any, ...]]:
            return (await conn.run(self.catalog.search, params)).rows()

        offers = await self.step("search_availability", self.replica, search, intended)
        return ([] if isinstance(offers, Failed) else offers), check_in, check_out, guests

    async def _view_hotel(self, hotel: int) -> bool:
        ids = {"hotel": hotel}
        statements = [(sql, ids) for sql in (q.HOTEL_AMENITIES, q.HOTEL_ROOMS, q.HOTEL_REVIEWS)]

        async def view(conn: LoadConnection) -> bool:
            await conn.run_all(statements)
            return True

        return not isinstance(await self.step("view_hotel", self.replica, view), Failed)

    async def guest_browse(self, intended: float) -> None:
        offers, *_ = await self._search(intended)
        if offers:
            await self._view_hotel(self.rng.choice(offers[:5])[1])
        if self.rng.random() < self.mix.guest.get("manage_bookings", 0):
            await self._manage_bookings()

    async def _manage_bookings(self) -> None:
        """A guest opens their booking history, then one of those bookings by its code."""
        user = {"user": self.rng.choice(self.catalog.users)}

        async def history(conn: LoadConnection) -> list[tuple[Any, ...]]:
            return (await conn.run(q.USER_BOOKINGS, user)).rows()

        bookings = await self.step("my_bookings", self.replica, history)
        if isinstance(bookings, Failed) or not bookings:
            return
        code = {"code": self.rng.choice(bookings)[1]}

        async def by_code(conn: LoadConnection) -> None:
            await conn.run(q.BOOKING_BY_CODE, code)  # looked at, not converted

        await self.step("booking_by_code", self.replica, by_code)

    async def guest_booking(self, intended: float) -> None:
        rng, g = self.rng, self.mix.guest
        offers, check_in, check_out, guests = await self._search(intended)
        if not offers:
            return
        # Most people take one of the cheapest: popular rooms collide, as in life.
        room, hotel, *_, price = offers[min(int(rng.expovariate(1 / 1.5)), len(offers) - 1)]
        if not await self._view_hotel(hotel):
            return
        user = rng.choice(self.catalog.users)
        points = 0
        balance = self.catalog.bonus_users.get(user, 0)
        if balance and rng.random() < g.get("use_bonus_points", 0):
            points = min(balance // 4, int(price) // 5)  # balances move: a quarter stays safe
        services = []
        if rng.random() < g.get("add_services", 0):
            offered = self.catalog.services.get(hotel, [])
            services = rng.sample(offered, min(len(offered), rng.randint(1, 2)))
        option = rng.choices(list(self.mix.payment), list(self.mix.payment.values()))[0]
        key = f"{self.run_id}:{uuid.uuid4().hex}"
        params = {
            "user": user,
            "room": room,
            "check_in": check_in,
            "check_out": check_out,
            "guests": guests,
            "option": option,
            "services": services,
            "points": points,
            "key": key,
        }
        # In doubt until the answer comes: a cancelled journey leaves its key there.
        self.books.in_doubt.add(key)
        created = await self.step(
            "create_booking", self.primary, booking_work(params, self.catalog.insert_booking)
        )
        if created is not UNKNOWN:
            self.books.in_doubt.discard(key)
        if isinstance(created, Failed):
            return
        booking, _, replayed = created
        self.books.acknowledged[key] = booking
        self.rec.count("bookings")
        if not replayed:
            self.rec.count("points_spent", points)
        share = {"full": Decimal(1), "partial": Decimal("0.3")}.get(option, Decimal(0))
        if isinstance(await self._pay("pay", booking, share, "confirmed"), Failed):
            return
        if rng.random() < g.get("change_dates", 0):
            shift = timedelta(days=rng.randint(1, 3))
            moved = {
                "booking": booking,
                "check_in": check_in + shift,
                "check_out": check_out + shift,
            }

            async def change(conn: LoadConnection) -> None:
                await conn.run(q.CHANGE_DATES, moved)

            await self.step("change_dates", self.primary, change)
        if rng.random() < g.get("cancel", 0):
            await self._move("cancel_booking", booking, "cancelled", ["pending", "confirmed"])
            return
        # Arrival: whatever is still due is paid at the desk.
        if isinstance(await self._pay("check_in", booking, Decimal(1), "checked_in"), Failed):
            return
        if not await self._move("complete_stay", booking, "completed", ["checked_in"]):
            return
        if rng.random() < g.get("review", 0):
            review = {
                "booking": booking,
                "rating": rng.choice((5, 5, 5, 4, 4, 3, 2, 1)),
                "comment": rng.choice((None, "nice stay", "would come back")),
            }

            async def add_review(conn: LoadConnection) -> None:
                await conn.run(q.ADD_REVIEW, review)

            await self.step("add_review", self.primary, add_review)

    async def _pay(self, op: str, booking: int, share: Decimal, status: str) -> Any:
        """Pay what is due up to `share` of the price and move to `status`, in one round
        trip; the payment reads what is paid, so a retry after a lost commit pays nothing
        twice."""
        method = self.rng.choice(self.catalog.methods)
        ids: dict[str, Any] = {"booking": booking}
        before = {"confirmed": "pending", "checked_in": "confirmed"}[status]
        statements: list[tuple[str, dict[str, Any]]] = [
            (q.PAY_DUE, {**ids, "share": share, "method": method}),
            (q.MOVE, {**ids, "to": status, "from": [before]}),
            (q.EARNED, ids),
        ]

        async def pay(conn: LoadConnection) -> tuple[Decimal, int]:
            paid, _, earned = await pipelined(conn, statements)
            amount = paid[0][0] if paid else Decimal(0)
            # Earned points are credited once, by the payment that completes the price.
            return amount, int(earned[0][0]) if paid and share == 1 else 0

        result = await self.step(op, self.primary, pay)
        if not isinstance(result, Failed):
            self.rec.count("revenue", float(result[0]))
            self.rec.count("points_earned", result[1])
        return result

    async def _move(self, op: str, booking: int, to: str, from_: list[str]) -> bool:
        async def move(conn: LoadConnection) -> int:
            return (await conn.run(q.MOVE, {"booking": booking, "to": to, "from": from_})).rowcount

        moved = await self.step(op, self.primary, move)
        if isinstance(moved, Failed):
            return False
        if to == "cancelled":
            self.rec.count("cancellations", moved)
        return True

    def _name(self, prefix: str) -> str:
        self._names += 1
        return f"{prefix} {self.run_id}-{self._names}"

    async def partner(self, intended: float) -> None:
        rng = self.rng
        op = rng.choice(PARTNER_OPS)
        hotel = rng.choice(self.catalog.hotels)
        price = rng.choice(self.catalog.prices) if self.catalog.prices else Decimal(100)
        starts = date.today() + timedelta(days=rng.randint(7, 90))
        choices: dict[str, tuple[str, dict[str, Any]]] = {
            "partner_add_room": (
                q.PARTNER_ADD_ROOM,
                {
                    "hotel": hotel,
                    "number": self._name("L"),
                    "type": rng.choice(ROOM_TYPES),
                    "capacity": rng.randint(1, 4),
                    "price": price,
                },
            ),
            "partner_change_price": (
                q.PARTNER_CHANGE_PRICE,
                {"hotel": hotel, "factor": Decimal(rng.randint(90, 110)) / 100},
            ),
            "partner_add_offer": (
                q.PARTNER_ADD_OFFER,
                {
                    "hotel": hotel,
                    "kind": rng.choice(("seasonal", "discount")),
                    "name": self._name("offer"),
                    "starts": starts,
                    "ends": starts + timedelta(days=rng.randint(3, 30)),
                    "factor": Decimal(rng.randint(70, 95)) / 100,
                },
            ),
            "partner_add_service": (
                q.PARTNER_ADD_SERVICE,
                {"hotel": hotel, "name": self._name("Service"), "price": rng.randint(5, 60)},
            ),
        }
        sql, params = choices[op]

        async def change(conn: LoadConnection) -> None:
            await conn.run(sql, params)

        await self.step(op, self.primary, change, intended)

    async def analyst(self, intended: float) -> None:
        rng, c = self.rng, self.catalog
        op = rng.choice(list(q.ANALYTIC))
        low = c.prices[len(c.prices) // 4] if c.prices else Decimal(50)
        params = {
            "city": rng.choices(c.cities, cum_weights=c.city_cum_weights)[0],
            "low": low,
            "high": low * 2,
            "guests": rng.randint(1, 3),
        }

        # As the service's login: it may not become `analytic` (a load session holds no
        # role it could switch to); the reports read only what both roles read. The rows
        # arrive whole but stay unconverted: the load only counts them.
        async def query(conn: LoadConnection) -> int:
            return (await conn.run(q.ANALYTIC[op], params)).rowcount

        await self.step(op, self.replica, query, intended)

    # -- arrivals -------------------------------------------------------------------------

    async def journey(self, intended: float) -> None:
        kind = self.rng.choices(self._kinds, self._weights)[0]
        await self.journeys[kind](intended)

    def _start(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def open_loop(self, rate: float, stop: asyncio.Event, max_in_flight: int) -> None:
        """Poisson arrivals at `rate` per second until `stop`; an arrival finding
        `max_in_flight` journeys running is dropped and counted (the schedule never waits
        for the system). Returns when arrivals stop: `drain` ends the journeys in flight."""
        due = self.loop.time()
        while not stop.is_set():
            due += self.rng.expovariate(rate)
            if due > self.loop.time():
                # Plain sleeps (wait_for(stop.wait()) would make a task per arrival), at most
                # 0.5 s each so a stop at a low rate is prompt.
                while (delay := due - self.loop.time()) > 0 and not stop.is_set():
                    await asyncio.sleep(min(delay, 0.5))
            else:  # behind schedule: still let the journeys and the stop timer run
                await asyncio.sleep(0)
            if stop.is_set():
                break
            dropped = len(self.tasks) >= max_in_flight
            self.rec.arrival(max(0.0, self.loop.time() - due), dropped)
            if not dropped:
                self._start(self.journey(due))

    async def closed_loop(self, users: int, stop: asyncio.Event) -> None:
        """`users` simulated users, each starting its next journey when the last one ends,
        until `stop`; returns when it is set (`drain` ends the journeys in flight)."""

        async def user() -> None:
            while not stop.is_set():
                await self.journey(self.loop.time())

        for _ in range(users):
            self._start(user())
        await stop.wait()

    def halt(self) -> None:
        """No step starts any more; waits for a connection are abandoned."""
        self.halted = True
        self.primary.abandon_waiting()
        if self.replica is not self.primary:
            self.replica.abandon_waiting()

    async def drain(self, seconds: float) -> dict[str, Any]:
        """After arrivals stop: the journeys in flight get `seconds` to finish, then the run
        halts and the steps at the server finish (bounded by their retry window; a step
        stuck beyond it is cancelled, its booking key left in doubt). Afterwards no journey
        is in flight. What happened, for the report."""
        started, in_flight = self.loop.time(), len(self.tasks)
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=seconds)
        halted_with = len(self.tasks)
        cancelled = 0
        if self.tasks:
            self.halt()
            _, stuck = await asyncio.wait(set(self.tasks), timeout=RETRY_FOR + 5)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
            cancelled = len(stuck)
        return {
            "drain_limit_s": seconds,
            "drain_s": self.loop.time() - started,
            "journeys_in_flight_at_stop": in_flight,
            "journeys_halted": halted_with,
            "journeys_cancelled": cancelled,
            "steps_abandoned": sum(self.rec.abandoned_steps.values()),
        }

    async def self_check(self) -> dict[str, Any]:
        """Bookings acknowledged to users == bookings of this run in the database, none
        duplicated (every booking carries an idempotency key starting with the run id).
        Exact because it runs with no journey in flight (after `drain`), and compares the
        database with the acknowledgements taken before its snapshot. Keys in doubt (a
        request that never got an answer) are listed with what the database holds."""
        if self.tasks:
            raise RuntimeError("the books are checked only when no journey is in flight")
        acked = dict(self.books.acknowledged)
        in_doubt = set(self.books.in_doubt)
        # The read retries as a step does: an idle connection may have died with the
        # primary it was on (a failover late in the run), and the pool reconnects.
        retry_until = self.loop.time() + RETRY_FOR
        while True:
            try:
                async with self.primary.connection() as conn:
                    rows = await (
                        await conn.execute(
                            "SELECT idempotency_key, id FROM bookings "
                            "WHERE idempotency_key LIKE %s ORDER BY id",
                            (self.run_id + ":%",),
                        )
                    ).fetchall()
                break
            except psycopg.Error as exc:
                if classify(exc)[0] != "retry" or self.loop.time() > retry_until:
                    raise
                await asyncio.sleep(0.5)
        in_db: dict[str, int] = {}
        duplicated: set[str] = set()
        for key, booking in rows:
            if key in in_db:
                duplicated.add(key)
            in_db[key] = booking
        missing = sorted(set(acked) - set(in_db))
        unacknowledged = sorted(set(in_db) - set(acked) - in_doubt)
        wrong = sorted(k for k in acked if k in in_db and in_db[k] != acked[k])
        duplicates = sorted(duplicated | set(wrong))
        return {
            "run_id": self.run_id,
            "acknowledged": len(acked),
            "in_database": len(in_db),
            "missing": len(missing),
            "unacknowledged": len(unacknowledged),
            "duplicates": len(duplicates),
            "in_doubt": len(in_doubt),
            "balanced": not missing and not unacknowledged and not duplicates,
            "missing_keys": {k: acked[k] for k in missing},
            "unacknowledged_keys": {k: in_db[k] for k in unacknowledged},
            "duplicate_keys": duplicates,
            "in_doubt_keys": {k: in_db.get(k) for k in sorted(in_doubt)},
        }


@dataclass
class Options:
    url: str
    replica_url: str | None = None
    rate: float | None = None  # open loop when set
    users: int | None = None  # closed loop when rate is None; else the in-flight limit
    duration: float | None = None  # None: until stopped
    drain: float = DRAIN  # seconds in-flight journeys get to finish after arrivals stop
    connections: int = 8
    mix: Mix | None = None
    seed: int | None = None


@dataclass
class Result:
    figures: dict[str, Any]
    books: dict[str, Any]
    options: dict[str, Any]
    cpu_s: float


async def run(
    options: Options,
    recorder: Recorder,
    stop: asyncio.Event | None = None,
    on_start: Callable[[Runner], None] | None = None,
) -> Result:
    """One load run; `stop` ends a run without a duration (the service mode)."""
    mix = options.mix or load_mix()
    stop = stop or asyncio.Event()
    primary = Pool(options.url, options.connections)
    replica = Pool(options.replica_url, options.connections) if options.replica_url else primary
    try:
        try:
            catalog = await sample_catalog(primary)
        except psycopg.OperationalError as exc:
            raise unreachable(exc) from exc
        except psycopg.errors.UndefinedTable as exc:
            raise LoadError("the database is not migrated: run `hotel migrate head`") from exc
        except psycopg.Error as exc:
            raise LoadError(f"database error: {str(exc).strip().splitlines()[0]}") from exc
        # pg_stat_statements from here on covers this run (`hotel explain --top`); a role
        # that may not reset it leaves the figures cumulative, which the report records.
        statements_reset = await asyncio.to_thread(reset_statements, options.url)
        run_id = "load-" + uuid.uuid4().hex[:10]
        runner = Runner(primary, replica, mix, recorder, catalog, run_id, options.seed)
        if on_start is not None:
            on_start(runner)
        cpu0, t0 = _cpu(), time.monotonic()
        recorder.started = t0
        timer = None
        if options.duration is not None:
            timer = asyncio.get_running_loop().call_later(options.duration, stop.set)
        if options.rate is not None:
            await runner.open_loop(options.rate, stop, options.users or 10_000)
        else:
            await runner.closed_loop(options.users or options.connections, stop)
        arrivals_s = time.monotonic() - t0
        if timer is not None:
            timer.cancel()
        stopping = await runner.drain(options.drain)
        elapsed = time.monotonic() - t0
        cpu = _cpu() - cpu0
        books = await runner.self_check()
    finally:
        await primary.close()
        if replica is not primary:
            await replica.close()
    mode = "open" if options.rate is not None else "closed"
    figures = recorder.figures(elapsed)
    figures["stopping"] = {"arrivals_s": arrivals_s, **stopping}
    return Result(
        figures,
        books,
        {
            "mode": mode,
            "rate": options.rate,
            "users": options.users,
            "duration": options.duration,
            "drain": options.drain,
            "connections": options.connections,
            "run_id": run_id,
            "replica": options.replica_url is not None,
            "statements_reset": statements_reset,
        },
        cpu,
    )


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
