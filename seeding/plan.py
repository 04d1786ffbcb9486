"""The seeded world as a deterministic stream of rows, valid by construction.

`generate()` yields (table, lines) batches in foreign-key order; every row is one line of
COPY's text format (the values of `COLUMNS[table]` separated by tabs, `\\N` for NULL, a
newline at the end), formatted once where it is made: the bulk loader only joins and sends
them, and a million bookings cost no per-value encoding pass. It also writes what
the rule triggers of 0009-0012 would have written (status history, paid_state, ledger
entries, review-only-after-completed-stays), so the bulk loader can run with them disabled;
hotels.rating and bonus balances are aggregates the loader sets at the end.

Why it is valid:
- each room's stays are laid out one after another on its timeline: no two overlap;
- guests <= capacity; rooms under maintenance get no bookings;
- payments never exceed the price; paid_state is computed from them;
- every account starts with a welcome promo and a booking spends at most what is left of
  that promo, so a balance never goes below zero in any order of the bookings;
- reviews only for completed stays, by their guest.

The world's "today" is fixed (TODAY) so a seed gives the same rows on any day.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Container, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import accumulate

from seeding.pools import Pools, pools

TODAY = date(2026, 11, 1)
PAST_DAYS = 730
FUTURE_DAYS = 180
WINDOW = PAST_DAYS + FUTURE_DAYS
START = TODAY - timedelta(days=PAST_DAYS)
TODAY_INDEX = PAST_DAYS
SEEDED_BY = "seed"  # booking_status_history.changed_by of seeded history: not a person
WELCOME_POINTS = 500
BOOKINGS_PER_CHUNK = 20_000
WORLD_CHUNK = 20_000

COLUMNS: dict[str, tuple[str, ...]] = {
    "partner_types": ("id", "code", "name"),
    "payment_methods": ("id", "code", "name"),
    "amenities": ("id", "name"),
    "facilities": ("id", "name"),
    "partners": (
        "id", "partner_type_id", "name", "login", "email", "phone", "password_hash",
        "created_at",
    ),
    "hotels": (
        "id", "partner_id", "name", "address", "city", "phone", "email", "description",
        "stars", "rating", "created_at",
    ),
    "hotel_amenities": ("hotel_id", "amenity_id"),
    "services": ("id", "hotel_id", "name", "description", "price", "active", "created_at"),
    "rooms": (
        "id", "hotel_id", "number", "room_type", "capacity", "price", "status", "created_at",
        "city",
    ),
    "room_facilities": ("room_id", "facility_id"),
    "room_rates": ("id", "room_id", "kind", "name", "starts_on", "ends_on", "price"),
    "users": (
        "id", "first_name", "last_name", "email", "phone", "login", "password_hash",
        "created_at",
    ),
    "user_payment_methods": ("id", "user_id", "method_id", "details", "is_default", "created_at"),
    "bonus_accounts": ("id", "user_id", "balance", "created_at"),
    "bonus_transactions": (
        "id", "account_id", "booking_id", "amount", "kind", "description", "created_at",
    ),
    "bookings": (
        "id", "code", "user_id", "room_id", "check_in", "check_out", "guests", "status",
        "payment_option", "paid_state", "total_price", "bonus_points_used", "updated_at",
        "created_at", "idempotency_key",
    ),
    "booking_services": ("booking_id", "service_id", "quantity", "price"),
    "booking_status_history": (
        "id", "booking_id", "old_status", "new_status", "changed_at", "changed_by",
    ),
    "payments": ("id", "booking_id", "method_id", "amount", "status", "created_at"),
    "reviews": (
        "id", "booking_id", "user_id", "hotel_id", "rating", "comment", "updated_at",
        "created_at",
    ),
}  # fmt: skip

# Reference rows (code, name): small, shared, inserted ON CONFLICT DO NOTHING by the loader.
PARTNER_TYPES = (("owner", "Owner"), ("agency", "Agency"), ("corporate", "Corporate"),
                 ("chain", "Hotel chain"))  # fmt: skip
PAYMENT_METHODS = (("card", "Bank card"), ("sbp", "Faster payments"), ("wallet", "E-wallet"),
                   ("bank_transfer", "Bank transfer"))  # fmt: skip
AMENITIES = ("Free Wi-Fi", "Parking", "Pool", "Spa", "Gym", "Restaurant", "Bar",
             "24-hour front desk", "Airport shuttle", "Pets allowed", "Conference room",
             "Laundry", "Kids club", "Beach access", "Sauna", "EV charging")  # fmt: skip
FACILITIES = ("Air conditioning", "Balcony", "Sea view", "Minibar", "Safe", "Bathtub",
              "Kitchenette", "Work desk", "Coffee machine", "Smart TV", "Soundproofing",
              "Hairdryer")  # fmt: skip
# (name, description, price in currency units at 3 stars)
SERVICES = (("Breakfast", "Buffet breakfast, 7:00-10:30", 900),
            ("Airport transfer", "One way, up to 3 passengers", 2500),
            ("Parking", "Guarded parking, per stay", 1200),
            ("Late check-out", "Until 16:00", 1500),
            ("Spa access", "Pool, sauna and hammam", 2000),
            ("Dinner", "Three-course dinner", 2200),
            ("Extra bed", "For a child or an adult", 1000))  # fmt: skip
HOTEL_KINDS = {
    "ru_RU": ("Отель", "Гостиница", "Гостевой дом", "Апарт-отель", "Бутик-отель"),
}
HOTEL_KINDS_DEFAULT = ("Hotel", "Inn", "Suites", "Resort", "Boutique Hotel")
# room type -> (capacity, price factor)
ROOM_TYPES = (("single", 1, 0.7), ("double", 2, 1.0), ("twin", 2, 1.0), ("triple", 3, 1.3),
              ("family", 4, 1.6), ("suite", 3, 2.5))  # fmt: skip
ROOM_TYPE_WEIGHTS = (15, 40, 20, 10, 8, 7)
NIGHTS = tuple(range(1, 15))
NIGHT_WEIGHTS = (18, 24, 18, 10, 7, 5, 8, 2, 1, 1, 1, 1, 1, 3)
# Stays by month (Jan..Dec): summer and the New Year holidays are high season.
MONTH_WEIGHTS = (9, 6, 6, 7, 9, 12, 15, 15, 10, 7, 6, 9)
PAYMENT_OPTIONS = ("full", "partial", "on_arrival")
LEAD_DAYS = (0, 1, 3, 7, 14, 30, 45, 60, 90)  # booked this many days before the stay
PAYMENT_OPTION_WEIGHTS = (55, 25, 20)


@dataclass(frozen=True)
class Counts:
    hotels: int
    rooms: int
    users: int
    bookings: int

    @property
    def partners(self) -> int:
        return max(1, self.hotels // 3)


SCALES: dict[str, Counts] = {
    "tiny": Counts(hotels=10, rooms=100, users=300, bookings=1_000),
    "demo": Counts(hotels=500, rooms=5_000, users=10_000, bookings=50_000),
    "large": Counts(hotels=10_000, rooms=100_000, users=200_000, bookings=1_000_000),
}


@dataclass(frozen=True)
class Refs:
    """Ids of the reference rows in the target database."""

    partner_types: list[int]
    payment_methods: list[int]
    amenities: list[int]
    facilities: list[int]


@dataclass
class Offsets:
    """The largest id already used per table: seeded ids continue after it (--append)."""

    ids: dict[str, int] = field(default_factory=dict)

    def of(self, table: str) -> int:
        return self.ids.get(table, 0)


NULL = "\\N"  # COPY text format
Lines = list[str]  # rows in COPY text format, each ending with a newline
Batch = tuple[str, Lines]


def fields(line: str) -> tuple[str | None, ...]:
    """One line back to its values (None for NULL): for readers of the plan, not the loader."""
    return tuple(None if v == NULL else v for v in line[:-1].split("\t"))


# Days as text from FIRST_DAY (before the window: when partners and guests joined) to past
# its end; timestamps are formatted from tables: they are in nearly every row.
FIRST_DAY = -1600
_DAYS = [(START + timedelta(days=i)).isoformat() for i in range(FIRST_DAY, WINDOW + 40)]
_CLOCK = [f" {m // 60:02d}:{m % 60:02d}:00+00" for m in range(24 * 60)]
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
# Two characters of a booking code per 10 bits: four lookups instead of eight.
_CODE_PAIRS = [CODE_ALPHABET[v & 31] + CODE_ALPHABET[v >> 5] for v in range(1024)]


def day_month(index: int) -> int:
    return int(_DAYS[index - FIRST_DAY][5:7])


def day(index: int) -> str:
    return _DAYS[index - FIRST_DAY]


def stamp(index: int, minute: int) -> str:
    """A timestamptz on day `index` (negative: before the window) at minute of day."""
    return _DAYS[index - FIRST_DAY] + _CLOCK[minute]


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def booking_code(booking_id: int) -> str:
    """8 characters of the database's alphabet from a bijection of the id: unique among
    seeded bookings (no retry needed) and the same for the same id on every run."""
    x = (booking_id * 0x9E3779B97F + 0x5DEECE66D) % (1 << 40)
    pairs = _CODE_PAIRS
    return pairs[x & 1023] + pairs[(x >> 10) & 1023] + pairs[(x >> 20) & 1023] + pairs[x >> 30]


def zipf_weights(n: int, s: float) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(n)]


@dataclass
class _Room:
    id: int
    hotel: int  # index into hotels
    capacity: int
    price: int  # cents
    rates: list[tuple[int, int, int]]  # (first night, end night exclusive, cents)


class Planner:
    """Generates the world for one (counts, seed, locale); see generate()."""

    def __init__(
        self,
        counts: Counts,
        seed: int,
        locale: str,
        refs: Refs,
        offsets: Offsets | None = None,
        earn_percent: Decimal = Decimal(5),
    ) -> None:
        self.counts = counts
        self.seed = seed
        self.pools: Pools = pools(seed, locale)
        self.refs = refs
        self.offsets = offsets or Offsets()
        # Points per booking as the trigger computes them: floor(total * percent / 100).
        self.earn_centipercent = int(earn_percent * 100)
        self.kinds = HOTEL_KINDS.get(locale, HOTEL_KINDS_DEFAULT)

    def rng(self, purpose: str) -> random.Random:
        """One generator per table: adding a column to one table does not shift the others."""
        return random.Random(f"{self.seed}:{purpose}")  # noqa: S311 - test data, not secrets

    # -- the world -------------------------------------------------------------------------

    def partners(self) -> Iterator[Batch]:
        rng, p = self.rng("partners"), self.pools
        base = self.offsets.of("partners")
        rows: Lines = []
        for i in range(self.counts.partners):
            pid = base + i + 1
            login = f"{rng.choice(p.usernames)}.p{pid}"
            rows.append(
                f"{pid}\t{rng.choice(self.refs.partner_types)}\t{rng.choice(p.companies)}\t"
                f"{login}\t{login}@{rng.choice(p.email_domains)}\t{rng.choice(p.phones)}\t"
                f"{self._hash(rng)}\t{stamp(-rng.randint(400, 1500), rng.randint(0, 1439))}\n"
            )
        yield "partners", rows

    def hotels(self) -> Iterator[Batch]:
        rng, p = self.rng("hotels"), self.pools
        n = self.counts.hotels
        base, partner_base = self.offsets.of("hotels"), self.offsets.of("partners")
        city_cum = list(accumulate(zipf_weights(len(p.cities), 1.0)))
        self.hotel_city = [bisect_right(city_cum, rng.random() * city_cum[-1]) for _ in range(n)]
        self.hotel_ids = [base + i + 1 for i in range(n)]
        self.hotel_stars = [rng.choices((1, 2, 3, 4, 5), (5, 15, 40, 30, 10))[0] for _ in range(n)]
        # Popularity: the top cities draw more guests, and some hotels are simply favourites.
        self.hotel_pop = [
            (2.0 if city < 5 else 1.0) * rng.lognormvariate(0, 0.5) for city in self.hotel_city
        ]
        rows: Lines = []
        for i in range(n):
            hid, city = self.hotel_ids[i], p.cities[self.hotel_city[i]]
            name = f"{rng.choice(self.kinds)} «{rng.choice(p.male_last)}»"
            rows.append(
                f"{hid}\t{partner_base + rng.randint(1, self.counts.partners)}\t{name}\t"
                f"{city}, {rng.choice(p.streets)}\t{city}\t{rng.choice(p.phones)}\t"
                f"hotel{hid}@{rng.choice(p.email_domains)}\t"
                f"{' '.join(rng.sample(p.sentences, 2))}\t{self.hotel_stars[i]}\t{NULL}\t"
                f"{stamp(-rng.randint(100, 1200), rng.randint(0, 1439))}\n"
            )
        yield "hotels", rows
        links: Lines = []
        for i in range(n):
            k = min(len(self.refs.amenities), 2 + self.hotel_stars[i] + rng.randint(0, 3))
            hid = self.hotel_ids[i]
            links.extend(f"{hid}\t{a}\n" for a in sorted(rng.sample(self.refs.amenities, k)))
        yield "hotel_amenities", links

    def services(self) -> Iterator[Batch]:
        rng = self.rng("services")
        sid = self.offsets.of("services")
        self.hotel_services: list[list[tuple[int, int]]] = []
        rows: Lines = []
        for i, hotel in enumerate(self.hotel_ids):
            offered = []
            factor = 0.6 + 0.2 * self.hotel_stars[i]
            for name, description, units in rng.sample(SERVICES, rng.randint(2, 5)):
                sid += 1
                cents = int(units * factor) * 100
                offered.append((sid, cents))
                at = stamp(-rng.randint(30, 90), rng.randint(0, 1439))
                rows.append(f"{sid}\t{hotel}\t{name}\t{description}\t{money(cents)}\tt\t{at}\n")
            self.hotel_services.append(offered)
        yield "services", rows

    def rooms(self) -> Iterator[Batch]:
        rng = self.rng("rooms")
        n_hotels, n_rooms = self.counts.hotels, max(self.counts.rooms, self.counts.hotels)
        per_hotel = [1] * n_hotels
        size = [0.5 + self.hotel_stars[i] / 3 for i in range(n_hotels)]
        for h in rng.choices(range(n_hotels), size, k=n_rooms - n_hotels):
            per_hotel[h] += 1
        rid, rate_id = self.offsets.of("rooms"), self.offsets.of("room_rates")
        self.rooms_list: list[_Room] = []
        rooms: Lines = []
        facilities: Lines = []
        rates: Lines = []
        summer = [(date(y, 6, 1), date(y, 9, 1)) for y in (TODAY.year - 2, TODAY.year - 1,
                                                            TODAY.year)]  # fmt: skip
        for h in range(n_hotels):
            if len(rooms) >= WORLD_CHUNK:  # bounded memory at any scale
                yield "rooms", rooms
                yield "room_facilities", facilities
                yield "room_rates", rates
                rooms, facilities, rates = [], [], []
            base_price = 2000 + 1200 * self.hotel_stars[h] + rng.randint(0, 1500)
            city = self.pools.cities[self.hotel_city[h]]
            for k in range(per_hotel[h]):
                rid += 1
                t = rng.choices(range(len(ROOM_TYPES)), ROOM_TYPE_WEIGHTS)[0]
                kind, capacity, factor = ROOM_TYPES[t]
                cents = int(base_price * factor) * 100
                maintenance = rng.random() < 0.02
                rooms.append(
                    f"{rid}\t{self.hotel_ids[h]}\t{100 * (1 + k // 20) + k % 20 + 1}\t{kind}\t"
                    f"{capacity}\t{money(cents)}\t"
                    f"{'maintenance' if maintenance else 'available'}\t"
                    f"{stamp(-rng.randint(30, 700), rng.randint(0, 1439))}\t{city}\n"
                )
                chosen = rng.sample(self.refs.facilities, rng.randint(2, 6))
                facilities.extend(f"{rid}\t{f}\n" for f in sorted(chosen))
                room_rates: list[tuple[int, int, int]] = []
                if rng.random() < 0.25:  # high-season prices
                    for starts, ends in summer:
                        rate_id += 1
                        price = cents * 5 // 4
                        rates.append(
                            f"{rate_id}\t{rid}\tseasonal\tSummer {starts.year}\t"
                            f"{starts.isoformat()}\t{ends.isoformat()}\t{money(price)}\n"
                        )
                        room_rates.append(((starts - START).days, (ends - START).days, price))
                if rng.random() < 0.10:  # an autumn discount
                    starts = TODAY - timedelta(days=rng.randint(0, 400))
                    ends = starts + timedelta(days=rng.randint(14, 45))
                    rate_id += 1
                    price = cents * 85 // 100
                    rates.append(
                        f"{rate_id}\t{rid}\tdiscount\tEarly booking -15%\t"
                        f"{starts.isoformat()}\t{ends.isoformat()}\t{money(price)}\n"
                    )
                    room_rates.append(((starts - START).days, (ends - START).days, price))
                if not maintenance:
                    self.rooms_list.append(_Room(rid, h, capacity, cents, room_rates))
        yield "rooms", rooms
        yield "room_facilities", facilities
        yield "room_rates", rates

    def users(self) -> Iterator[Batch]:
        rng, p = self.rng("users"), self.pools
        n = self.counts.users
        base = self.offsets.of("users")
        method_base, account_base = (
            self.offsets.of("user_payment_methods"),
            self.offsets.of("bonus_accounts"),
        )
        ledger_base = self.offsets.of("bonus_transactions")
        self.user_ids = [base + i + 1 for i in range(n)]
        self.user_account: list[int] = [0] * n  # 0: not in the loyalty programme
        self.user_points: list[int] = [0] * n  # promo points a booking may still spend
        users: Lines = []
        methods: Lines = []
        accounts: Lines = []
        ledger: Lines = []
        for i in range(n):
            if len(users) >= WORLD_CHUNK:
                yield "users", users
                yield "user_payment_methods", methods
                yield "bonus_accounts", accounts
                yield "bonus_transactions", ledger
                users, methods, accounts, ledger = [], [], [], []
            uid = self.user_ids[i]
            if rng.random() < 0.5:
                first, last = rng.choice(p.male_first), rng.choice(p.male_last)
            else:
                first, last = rng.choice(p.female_first), rng.choice(p.female_last)
            login = f"{rng.choice(p.usernames)}{uid}"
            joined = -rng.randint(0, 1500)
            users.append(
                f"{uid}\t{first}\t{last}\t{login}@{rng.choice(p.email_domains)}\t"
                f"{rng.choice(p.phones)}\t{login}\t{self._hash(rng)}\t"
                f"{stamp(joined, rng.randint(0, 1439))}\n"
            )
            if rng.random() < 0.6:
                method_base += 1
                method = rng.choice(self.refs.payment_methods)
                details = f'{{"last4": "{rng.randint(0, 9999):04d}"}}'
                at = stamp(joined + 1, rng.randint(0, 1439))
                methods.append(f"{method_base}\t{uid}\t{method}\t{details}\tt\t{at}\n")
            if rng.random() < 0.4:
                account_base += 1
                ledger_base += 1
                self.user_account[i] = account_base
                self.user_points[i] = WELCOME_POINTS
                at = stamp(joined + 2, rng.randint(0, 1439))
                accounts.append(f"{account_base}\t{uid}\t0\t{at}\n")
                ledger.append(
                    f"{ledger_base}\t{account_base}\t{NULL}\t{WELCOME_POINTS}\tpromo\t"
                    f"welcome bonus\t{at}\n"
                )
        self.ledger_id = ledger_base
        # Frequent travellers: a few guests book much more often than most.
        weights = zipf_weights(n, 0.6)
        rng.shuffle(weights)
        self.user_cum = list(accumulate(weights))
        yield "users", users
        yield "user_payment_methods", methods
        yield "bonus_accounts", accounts
        yield "bonus_transactions", ledger

    @staticmethod
    def _hash(rng: random.Random) -> str:
        return f"$argon2id$v=19$m=65536,t=3,p=4${rng.getrandbits(128):032x}"

    # -- bookings and what follows from them -----------------------------------------------

    def bookings_per_room(self, rng: random.Random) -> list[int]:
        rooms = self.rooms_list
        weights = [self.hotel_pop[r.hotel] * rng.uniform(0.7, 1.3) for r in rooms]
        total = sum(weights) or 1.0
        cap = WINDOW // 5
        counts = [min(cap, int(self.counts.bookings * w / total)) for w in weights]
        missing = self.counts.bookings - sum(counts)
        cum = list(accumulate(weights))
        while missing > 0 and rooms:
            r = bisect_right(cum, rng.random() * cum[-1])
            if counts[r] < cap:
                counts[r] += 1
                missing -= 1
            elif all(c >= cap for c in counts):
                break
        return counts

    def bookings(self) -> Iterator[list[Batch]]:
        """Chunks of rooms with all their bookings, each chunk a list of batches."""
        rng = self.rng("bookings")
        counts = self.bookings_per_room(rng)
        # Integer weights as tables (each value repeated weight times): one random() and one
        # index per draw, the same draw as bisecting the cumulative weights.
        day_table = [d for d in range(WINDOW) for _ in range(MONTH_WEIGHTS[day_month(d) - 1])]
        night_table = [n for n, w in zip(NIGHTS, NIGHT_WEIGHTS, strict=True) for _ in range(w)]
        n_days, n_nights = len(day_table), len(night_table)
        random = rng.random
        ids = {
            t: self.offsets.of(t)
            for t in ("bookings", "booking_status_history", "payments", "reviews")
        }
        n_users = len(self.user_ids)
        out: dict[str, Lines] = {t: [] for t in CHUNK_TABLES}
        in_chunk = 0
        for room, k in zip(self.rooms_list, counts, strict=True):
            if k == 0 or n_users == 0:
                continue
            starts = sorted([day_table[int(random() * n_days)] for _ in range(k)])
            free_from = 0
            for start in starts:
                check_in = max(start, free_from)
                nights = night_table[int(random() * n_nights)]
                if check_in + nights > WINDOW:
                    break
                free_from = check_in + nights
                ids["bookings"] += 1
                user = bisect_right(self.user_cum, random() * self.user_cum[-1])
                self._booking(rng, out, ids, room, user, check_in, nights)
                in_chunk += 1
            if in_chunk >= BOOKINGS_PER_CHUNK:
                yield [(t, out[t]) for t in CHUNK_TABLES]
                out = {t: [] for t in CHUNK_TABLES}
                in_chunk = 0
        if in_chunk:
            yield [(t, out[t]) for t in CHUNK_TABLES]

    def _booking(
        self,
        rng: random.Random,
        out: dict[str, Lines],
        ids: dict[str, int],
        room: _Room,
        user: int,
        check_in: int,
        nights: int,
    ) -> None:
        random = rng.random
        bid = ids["bookings"]
        check_out = check_in + nights
        stay = room.price * nights
        rates = [r for r in room.rates if r[0] < check_out and r[1] > check_in]
        if rates:  # per night the lowest rate covering it, else the base price
            stay = sum(
                min([c for f, e, c in rates if f <= n < e], default=room.price)
                for n in range(check_in, check_out)
            )
        # Draws are int(random() * n): a third of the cost of randint, choice and sample,
        # which the generator's own output does not need (the bias is below 2**-40).
        services: list[tuple[int, int]] = []
        price = stay
        if random() < 0.25:  # one or two of the hotel's services
            offered = self.hotel_services[room.hotel]
            i = int(random() * len(offered))
            services.append(offered[i])
            if random() < 0.5 and len(offered) > 1:
                j = int(random() * (len(offered) - 1))
                services.append(offered[j + (j >= i)])
                services.sort()
            price += sum(c for _, c in services)
        points = 0
        account = self.user_account[user]
        if account and self.user_points[user] > 0 and random() < 0.3:
            points = min(self.user_points[user], (1 + int(random() * 5)) * 100, price // 300)
            self.user_points[user] -= points
        total = price - points * 100
        guests = room.capacity if random() < 0.45 else 1 + int(random() * room.capacity)
        option = PAYMENT_OPTIONS[
            0 if (r := random()) < 0.55 else 1 if r < 0.8 else 2  # 55/25/20
        ]
        created = min(check_in - LEAD_DAYS[int(random() * len(LEAD_DAYS))], TODAY_INDEX)
        minute = 420 + int(random() * (361 if created == check_in else 961))  # 7:00-13:00/23:00
        # What happened to it, as of TODAY.
        if check_out <= TODAY_INDEX:
            path = "completed" if random() < 0.88 else "cancelled"
        elif check_in <= TODAY_INDEX:
            path = "checked_in"
        else:
            r = random()
            path = "pending" if r < 0.25 else "confirmed" if r < 0.85 else "cancelled"
        events: list[tuple[int, int, str]] = [(created, minute, "pending")]
        if path != "pending" and not (path == "cancelled" and random() < 0.4):
            events.append((created, min(minute + 5, 1439), "confirmed"))
        if path in ("checked_in", "completed"):
            events.append((check_in, 840, "checked_in"))
        if path == "completed":
            events.append((check_out, 720, "completed"))
        if path == "cancelled":
            when = min(created + int(random() * (max(0, check_in - created) + 1)), TODAY_INDEX)
            events.append((when, min(minute + 60, 1439) if when == created else 600, "cancelled"))
        last_day, last_minute, status = events[-1]
        # Payments: at booking time for full/partial, the rest (or everything) at check-in.
        method = self.refs.payment_methods[bid % len(self.refs.payment_methods)]
        payments: list[tuple[int, int, int, str]] = []  # (day, minute, cents, status)
        if status != "cancelled" and status != "pending" and option != "on_arrival":
            if random() < 0.05:
                payments.append((created, minute + 1, total, "failed"))
            first = total if option == "full" else max(1, total * 3 // 10)
            payments.append((created, minute + 2, first, "completed"))
            if option == "partial" and status in ("checked_in", "completed"):
                payments.append((check_in, 845, total - first, "completed"))
        elif option == "on_arrival" and status in ("checked_in", "completed"):
            payments.append((check_in, 845, total, "completed"))
        if status == "pending" and random() < 0.1:
            payments.append((created, minute + 1, total, "failed"))
        paid = 0
        code = booking_code(bid)
        booked_at = stamp(created, minute)
        if points:  # spent when the booking is inserted
            self._ledger(out, account, bid, -points, "spend", f"booking {code}", booked_at)
        if payments:
            lines = out["payments"]
            pid = ids["payments"]
            for pday, pminute, cents, pstatus in payments:
                pid += 1
                at = stamp(pday, pminute)
                lines.append(f"{pid}\t{bid}\t{method}\t{money(cents)}\t{pstatus}\t{at}\n")
                if pstatus == "completed":
                    paid += cents
                    if paid == total and account and total > 0:
                        earned = total * self.earn_centipercent // 1_000_000
                        if earned > 0:
                            self._ledger(out, account, bid, earned, "earn", f"paid booking {code}",
                                         at)  # fmt: skip
            ids["payments"] = pid
        paid_state = "paid" if paid >= total else "unpaid" if paid == 0 else "partially_paid"
        changed_at = stamp(last_day, last_minute)
        if status == "cancelled" and points:
            self._ledger(out, account, bid, points, "return", f"cancelled booking {code}",
                         changed_at)  # fmt: skip
        lines = out["booking_status_history"]
        hid = ids["booking_status_history"]
        old = NULL
        for eday, eminute, new in events:
            hid += 1
            lines.append(f"{hid}\t{bid}\t{old}\t{new}\t{stamp(eday, eminute)}\t{SEEDED_BY}\n")
            old = new
        ids["booking_status_history"] = hid
        out["bookings"].append(
            f"{bid}\t{code}\t{self.user_ids[user]}\t{room.id}\t{day(check_in)}\t"
            f"{day(check_out)}\t{guests}\t{status}\t{option}\t{paid_state}\t{money(total)}\t"
            f"{points}\t{changed_at}\t{booked_at}\t{NULL}\n"
        )
        if services:
            out["booking_services"].extend(
                f"{bid}\t{sid}\t1\t{money(cents)}\n" for sid, cents in services
            )
        if status == "completed" and random() < 0.35:
            ids["reviews"] += 1
            quality = 2.4 + 0.45 * self.hotel_stars[room.hotel]
            rating = max(1, min(5, round(rng.gauss(quality, 0.9))))
            sentences = self.pools.sentences
            comment = sentences[int(random() * len(sentences))] if random() < 0.6 else NULL
            when = min(check_out + int(random() * 11), TODAY_INDEX)
            out["reviews"].append(
                f"{ids['reviews']}\t{bid}\t{self.user_ids[user]}\t{self.hotel_ids[room.hotel]}\t"
                f"{rating}\t{comment}\t{NULL}\t{stamp(when, 1200)}\n"
            )

    def _ledger(
        self,
        out: dict[str, Lines],
        account: int,
        booking: int,
        amount: int,
        kind: str,
        description: str,
        at: str,
    ) -> None:
        self.ledger_id += 1
        out["bonus_transactions"].append(
            f"{self.ledger_id}\t{account}\t{booking}\t{amount}\t{kind}\t{description}\t{at}\n"
        )


# Tables written per chunk of bookings, parents first.
CHUNK_TABLES = (
    "bookings",
    "booking_services",
    "booking_status_history",
    "payments",
    "bonus_transactions",
    "reviews",
)


def generate(planner: Planner, tables: Container[str] = COLUMNS) -> Iterator[Batch]:
    """Every row of the world, parents before children; stages whose tables do not exist
    at the database's revision are skipped (the caller drops rows of other missing tables)."""
    yield from planner.partners()
    yield from planner.hotels()
    has_rooms = "rooms" in tables and "users" in tables
    has_bookings = has_rooms and "bookings" in tables and "services" in tables
    if has_bookings:
        yield from planner.services()
    if has_rooms:
        yield from planner.rooms()
        yield from planner.users()
    if has_bookings:
        for chunk in planner.bookings():
            yield from chunk
