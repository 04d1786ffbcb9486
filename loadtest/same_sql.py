"""The load generator's journeys as pgbench custom scripts: the same statements
(loadtest.queries, as the runner sends them), the same choices, parameters drawn from the
same data, so `python -m loadtest.bench` can hold the harness against pgbench on equal work.

Each journey kind has a script and a table of draws, one row per journey: a script reads its
row (one indexed lookup: pgbench has no string variables), then sends the journey's
statements, batching with `\\startpipeline` where the runner sends one round trip and where
pgbench allows it (a result it reads with `\\gset` ends a batch; create_booking's id is
read after its pipeline, one round trip more than the runner). A pipeline is one implicit
transaction, as the runner's. The draws follow the runner's: cities weighted by their
available rooms (a room drawn uniformly), stays like the existing bookings, the mix's
probabilities for every choice.

pgbench stops a client at its first error, where the runner counts a conflict and ends the
journey; so the booking draws avoid the conflicts the runner meets: every row books a room
of its own for a window no booking holds (change of dates included), and bonus points never
exceed what a guest has left.
"""

from __future__ import annotations

import random
import re
import resource
import subprocess
import tempfile
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from hotel_models.roles import HOTEL_APP
from hotel_models.settings import libpq_url
from loadtest import queries as q
from loadtest.db import PLACEHOLDER, LoadError, client_env, login_as
from loadtest.mix import Mix
from loadtest.runner import PARTNER_OPS, ROOM_TYPES

SCHEMA = "pgbench_same_sql"
JOURNEYS = ("guest_browse", "guest_booking", "partner", "analyst")
SHARE = {"full": Decimal(1), "partial": Decimal("0.3"), "on_arrival": Decimal(0)}
# The runner's constant parameters (the statuses a step moves between): pgbench -D values.
CONSTANTS = {
    "limit": "20",
    "pay_to": "confirmed",
    "pay_from": "{pending}",
    "in_share": "1",
    "in_to": "checked_in",
    "in_from": "{confirmed}",
    "cancel_to": "cancelled",
    "cancel_from": "{pending,confirmed}",
    "done_to": "completed",
    "done_from": "{checked_in}",
}
MAX_SHIFT = 3  # days change_dates moves a stay


def command(statement: str, rename: dict[str, str] | None = None, gset: bool = False) -> str:
    """A runner statement as a pgbench command: %(name)s -> :name (or the name `rename`
    gives; pgbench sends it as the same $n parameter, so the server sees the same SQL)."""
    names = rename or {}
    text = PLACEHOLDER.sub(
        lambda m: "%" if m[1] is None else ":" + names.get(m[1], m[1]), statement.strip()
    )
    return text + (" \\gset" if gset else ";")


def pipeline(*commands: str) -> str:
    return "\n".join(("\\startpipeline", *commands, "\\endpipeline"))


def branch(variable: str, *commands: str, otherwise: Iterable[str] = ()) -> str:
    """Commands run when the draw's 0/1 column `variable` is 1."""
    lines = [f"\\if :{variable}", *commands]
    rest = list(otherwise)
    if rest:
        lines += ["\\else", *rest]
    return "\n".join([*lines, "\\endif"])


def choose(variable: str, options: list[str]) -> str:
    """The command of option `variable` (1-based), as the runner's uniform choice of one."""
    lines = []
    for i, option in enumerate(options, start=1):
        lines += [f"\\{'if' if i == 1 else 'elif'} :{variable} = {i}", option]
    return "\n".join([*lines, "\\endif"])


def _read_row(journey: str) -> list[str]:
    """Each client reads rows client_id, client_id + clients, ...: each row once."""
    return [
        "\\set n :i * :clients + :client_id",
        "\\set i :i + 1",
        f"SELECT * FROM {SCHEMA}.{journey} WHERE n = :n \\gset",
    ]


def _browse() -> list[str]:
    """Both guest journeys start alike: a search, then a hotel's page in one round trip."""
    hotel = (q.HOTEL_AMENITIES, q.HOTEL_ROOMS, q.HOTEL_REVIEWS)
    return [command(q.SEARCH), pipeline(*(command(s) for s in hotel))]


def _pay(prefix: str, share: str, method: str) -> str:
    names = {"share": share, "method": method, "to": f"{prefix}_to", "from": f"{prefix}_from"}
    return pipeline(command(q.PAY_DUE, names), command(q.MOVE, names), command(q.EARNED))


def _move(prefix: str) -> str:
    return command(q.MOVE, {"to": f"{prefix}_to", "from": f"{prefix}_from"})


def script(journey: str) -> str:
    """The pgbench script of one journey kind."""
    lines = _read_row(journey)
    if journey == "guest_browse":
        lines += [
            *_browse(),
            branch("manage", command(q.USER_BOOKINGS), command(q.BOOKING_BY_CODE)),
        ]
    elif journey == "guest_booking":
        insert = command(q.INSERT_BOOKING)
        lines += [
            *_browse(),
            branch(
                "with_services",
                pipeline(insert, command(q.INSERT_BOOKING_SERVICES)),
                otherwise=[pipeline(insert)],
            ),
            # The booking's id as `booking`: pgbench names a \gset variable by its column.
            command(q.BOOKING_BY_KEY.replace("SELECT id,", "SELECT id AS booking,"), gset=True),
            _pay("pay", "share", "method"),
            branch(
                "change",
                command(q.CHANGE_DATES, {"check_in": "moved_in", "check_out": "moved_out"}),
            ),
            branch(
                "cancel",
                _move("cancel"),
                otherwise=[
                    _pay("in", "in_share", "method2"),
                    _move("done"),
                    branch("review", command(q.ADD_REVIEW)),
                ],
            ),
        ]
    elif journey == "partner":
        ops = {
            "partner_add_room": command(q.PARTNER_ADD_ROOM),
            "partner_change_price": command(q.PARTNER_CHANGE_PRICE, {"factor": "price_factor"}),
            "partner_add_offer": command(q.PARTNER_ADD_OFFER, {"factor": "offer_factor"}),
            "partner_add_service": command(
                q.PARTNER_ADD_SERVICE, {"name": "service_name", "price": "service_price"}
            ),
        }
        lines.append(choose("op", [ops[op] for op in PARTNER_OPS]))
    elif journey == "analyst":
        lines.append(choose("op", [command(s) for s in q.ANALYTIC.values()]))
    else:
        raise ValueError(f"no such journey: {journey}")
    return "\n".join(lines) + "\n"


@dataclass
class Sample:
    """What the draws choose from, read once from the database like the runner's catalog."""

    rooms: list[tuple[int, int, str, int, Decimal]]  # id, hotel, city, capacity, price
    stays: list[tuple[int, int, int]]  # check-in (days from today), nights, guests
    taken: dict[int, list[tuple[date, date]]]  # room -> stays booked from today on
    users: list[int]
    balances: dict[int, int]
    methods: list[int]
    services: dict[int, list[int]]
    codes: list[tuple[int, str]]  # (guest, code) of existing bookings
    prices: list[Decimal]


def sample(conn: psycopg.Connection) -> Sample:
    def rows(query: str) -> list[Any]:
        return conn.execute(query).fetchall()

    taken: dict[int, list[tuple[date, date]]] = {}
    for room, check_in, check_out in rows(
        "SELECT room_id, check_in, check_out FROM bookings "
        "WHERE status <> 'cancelled' AND check_out > current_date"
    ):
        taken.setdefault(room, []).append((check_in, check_out))
    services: dict[int, list[int]] = {}
    for hotel, service in rows("SELECT hotel_id, id FROM services WHERE active"):
        services.setdefault(hotel, []).append(service)
    stays = rows(
        "SELECT check_in - current_date, check_out - check_in, guests FROM bookings "
        "WHERE check_in >= current_date ORDER BY random() LIMIT 5000"
    )
    return Sample(
        rooms=rows(
            "SELECT r.id, r.hotel_id, h.city, r.capacity, r.price FROM rooms r "
            "JOIN hotels h ON h.id = r.hotel_id WHERE r.status = 'available' ORDER BY r.id"
        ),
        stays=[(s[0], max(1, s[1]), s[2]) for s in stays] or [(7, 2, 2), (30, 3, 1)],
        taken=taken,
        users=[r[0] for r in rows("SELECT id FROM users ORDER BY id")],
        balances=dict(rows("SELECT user_id, balance FROM bonus_accounts WHERE balance > 0")),
        methods=[r[0] for r in rows("SELECT id FROM payment_methods ORDER BY id")],
        services=services,
        codes=rows("SELECT user_id, code FROM bookings ORDER BY id"),
        prices=sorted(r[0] for r in rows("SELECT price FROM rooms")),
    )


class Draws:
    """Rows of draws for one journey kind, the runner's choices with `rng`."""

    def __init__(self, s: Sample, mix: Mix, rng: random.Random) -> None:
        if not s.rooms or not s.users or not s.methods:
            raise ValueError("the database has no rooms, guests or payment methods: seed it")
        self.s, self.mix, self.rng = s, mix, rng
        self.tag = uuid.uuid4().hex[:8]
        self.today = date.today()
        self.balances = dict(s.balances)
        self.booked: dict[int, list[tuple[date, date]]] = {}

    def stay(self) -> tuple[date, date, int]:
        offset, nights, guests = self.rng.choice(self.s.stays)
        check_in = self.today + timedelta(days=max(0, offset))
        return check_in, check_in + timedelta(days=nights), guests

    def room(self) -> tuple[int, int, str, int, Decimal]:
        """Uniform over available rooms: cities weighted by their rooms, as the runner's."""
        return self.rng.choice(self.s.rooms)

    def _free(self, room: int, start: date, end: date) -> bool:
        held = self.s.taken.get(room, []) + self.booked.get(room, [])
        return all(end <= a or b <= start for a, b in held)

    def guest_browse(self, n: int) -> dict[str, Any]:
        check_in, check_out, guests = self.stay()
        _, hotel, city, _, _ = self.room()
        user, code = self.rng.choice(self.s.codes) if self.s.codes else (0, "")
        manage = bool(self.s.codes) and self.rng.random() < self.mix.guest.get("manage_bookings", 0)
        return {
            "city": city,
            "check_in": check_in,
            "check_out": check_out,
            "guests": guests,
            "hotel": hotel,
            "manage": int(manage),
            "user": user,
            "code": code,
        }

    def guest_booking(self, n: int) -> dict[str, Any]:
        rng, g = self.rng, self.mix.guest
        for _ in range(1000):  # a stay, then a room of its own free for it and any change
            check_in, check_out, guests = self.stay()
            room, hotel, city, capacity, price = self.room()
            end = check_out + timedelta(days=MAX_SHIFT)
            if capacity >= guests and self._free(room, check_in, end):
                self.booked.setdefault(room, []).append((check_in, end))
                break
        else:
            raise ValueError("no free room left for another booking: seed a larger scale")
        user = rng.choice(self.s.users)
        points = 0
        balance = self.balances.get(user, 0)
        nights = (check_out - check_in).days
        if balance and rng.random() < g.get("use_bonus_points", 0):
            points = min(balance // 4, int(price * nights) // 5)
            self.balances[user] = balance - points
        services: list[int] = []
        offered = self.s.services.get(hotel, [])
        if rng.random() < g.get("add_services", 0) and offered:
            services = rng.sample(offered, min(len(offered), rng.randint(1, 2)))
        option = rng.choices(list(self.mix.payment), list(self.mix.payment.values()))[0]
        shift = timedelta(days=rng.randint(1, MAX_SHIFT))
        change = rng.random() < g.get("change_dates", 0)
        cancel = rng.random() < g.get("cancel", 0)
        return {
            "city": city,
            "check_in": check_in,
            "check_out": check_out,
            "guests": guests,
            "hotel": hotel,
            "room": room,
            "user": user,
            "option": option,
            "services": services,
            "with_services": int(bool(services)),
            "points": points,
            "key": f"pgbench-{self.tag}:{n}",
            "share": SHARE[option],
            "method": rng.choice(self.s.methods),
            "method2": rng.choice(self.s.methods),
            "change": int(change),
            "moved_in": check_in + shift,
            "moved_out": check_out + shift,
            "cancel": int(cancel),
            "review": int(rng.random() < g.get("review", 0)),
            "rating": rng.choice((5, 5, 5, 4, 4, 3, 2, 1)),
            "comment": rng.choice(("nice stay", "would come back", "ok")),
        }

    def partner(self, n: int) -> dict[str, Any]:
        rng = self.rng
        starts = self.today + timedelta(days=rng.randint(7, 90))
        return {
            "op": rng.randint(1, len(PARTNER_OPS)),
            "hotel": self.room()[1],
            "number": f"P {self.tag}-{n}",
            "type": rng.choice(ROOM_TYPES),
            "capacity": rng.randint(1, 4),
            "price": rng.choice(self.s.prices) if self.s.prices else Decimal(100),
            "price_factor": Decimal(rng.randint(90, 110)) / 100,
            "kind": rng.choice(("seasonal", "discount")),
            "name": f"offer {self.tag}-{n}",
            "starts": starts,
            "ends": starts + timedelta(days=rng.randint(3, 30)),
            "offer_factor": Decimal(rng.randint(70, 95)) / 100,
            "service_name": f"Service {self.tag}-{n}",
            "service_price": rng.randint(5, 60),
        }

    def analyst(self, n: int) -> dict[str, Any]:
        prices = self.s.prices
        low = prices[len(prices) // 4] if prices else Decimal(50)
        return {
            "op": self.rng.randint(1, len(q.ANALYTIC)),
            "city": self.room()[2],
            "low": low,
            "high": low * 2,
            "guests": self.rng.randint(1, 3),
        }


def draw(s: Sample, mix: Mix, journey: str, count: int, seed: int) -> list[dict[str, Any]]:
    draws = Draws(s, mix, random.Random(seed))
    make = getattr(draws, journey)
    return [make(n) for n in range(count)]


def load_draws(url: str, journey: str, rows: list[dict[str, Any]]) -> None:
    """The draws as table pgbench_same_sql.<journey> (replaced), readable by hotel_app."""
    columns = list(rows[0])
    table = sql.Identifier(SCHEMA, journey)
    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(table))
        conn.execute(
            sql.SQL("CREATE UNLOGGED TABLE {} (n int PRIMARY KEY, {})").format(
                table,
                sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(c)) for c in columns),
            )
        )
        with conn.cursor().copy(
            sql.SQL("COPY {} (n, {}) FROM STDIN").format(
                table, sql.SQL(", ").join(map(sql.Identifier, columns))
            )
        ) as copy:
            for n, row in enumerate(rows):
                copy.write_row([n, *(_text(row[c]) for c in columns)])
        for grant in (
            "GRANT USAGE ON SCHEMA {} TO {}",
            "GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}",
        ):
            conn.execute(sql.SQL(grant).format(sql.Identifier(SCHEMA), sql.Identifier(HOTEL_APP)))


def _text(value: Any) -> str:
    """A draw as pgbench passes it: text, a list as an array literal."""
    if isinstance(value, list):
        return "{" + ",".join(map(str, value)) + "}"
    return str(value)


def drop_draws(url: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(SCHEMA)))


@dataclass(frozen=True)
class PgbenchRun:
    tps: float  # journeys per second (one script execution is one journey)
    journeys: int
    cpu_s: float  # pgbench's own CPU time (user + system)


def run_pgbench(
    pgbench: str,
    url: str,
    journey: str,
    clients: int,
    duration: float,
    rows: int,
    transactions: int | None = None,
) -> PgbenchRun:
    """The journey's script, -M prepared, `clients` connections logged in as hotel_app with
    the load's session settings, for `duration` seconds (or `transactions` journeys per
    client); a LoadError when a client fails (one that used up its rows of draws too)."""
    env = {
        **client_env(login_as(url, HOTEL_APP)),
        "PGOPTIONS": "-c jit=off",  # as the load's sessions (loadtest.db.Pool)
        "PGAPPNAME": "hotel-pgbench",
    }
    constants = {**CONSTANTS, "i": "0", "clients": str(clients)}
    with tempfile.NamedTemporaryFile("w", suffix=".sql", prefix=f"{journey}-") as file:
        file.write(script(journey))
        file.flush()
        # -j 1: one thread multiplexing its clients, as the harness's one event loop (on a
        # busy machine two threads would also get twice the harness's share of the cores).
        argv = [pgbench, "-n", "-M", "prepared", "-c", str(clients), "-j", "1"]
        argv += ["-t", str(transactions)] if transactions else ["-T", str(int(duration))]
        argv += ["-f", file.name]
        argv += [a for k, v in constants.items() for a in ("-D", f"{k}={v}")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        process = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        out, err = process.communicate()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if process.returncode != 0 or "aborted" in err:
        reason = next((line for line in err.splitlines() if "aborted" in line), err.strip())
        raise LoadError(f"pgbench {journey} failed ({rows} rows of draws): {reason[:300]}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    done = re.search(r"number of transactions actually processed: (\d+)", out)
    if tps is None or done is None:
        raise LoadError(f"could not read pgbench's figures from: {out[-300:]}")
    return PgbenchRun(float(tps[1]), int(done[1]), cpu)
