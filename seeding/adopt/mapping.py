"""How each earlier table maps onto the new schema: the rules a row must pass (first broken
rule wins, it becomes the row's quarantine reason) and the INSERT that carries the rest.

The earlier rows are staged as temporary tables `old_<table>` with two more columns,
`_reason` and `_detail` (NULL while the row passes), and a few derived `_` columns (a link
resolved the other way, a price the new rules need). A rule is one set-based UPDATE.
"""

from __future__ import annotations

from dataclasses import dataclass

from hotel_models.enums import RoomType

# Every reason a row can be quarantined for (docs/operations.md lists them too).
REASONS = {
    "missing_value": "a column the new schema requires is empty (detail: which)",
    "missing_parent": "the row it refers to does not exist or was quarantined itself",
    "duplicate_value": "a value the new schema keeps unique is taken by a row with a lower id",
    "out_of_range": "a number outside what the new schema allows (rating 1-5, capacity, "
    "guests >= 1, prices 0 <= p < 10^10, bonus amounts)",
    "unknown_value": "an enum or type word with no counterpart (room type, status, "
    "transaction type)",
    "invalid_stay": "check-out on or before check-in",
    "guests_over_capacity": "more guests than the room takes",
    "overlapping_stay": "the room is taken by an earlier-booked live stay on these dates",
    "second_opening": "a second history row without an old status (a booking opens once)",
    "zero_amount": "a payment of a free booking, or bonus points that round to 0",
    "payment_exceeds_price": "a second completed payment of a booking already paid in full",
    "overdraft": "a bonus spend beyond the account's balance at that point of its ledger",
    "review_without_stay": "the reviewer has no completed, not yet reviewed stay at the hotel",
    "service_never_sold": "an extra service no adopted booking used: no hotel to belong to",
}

BOOKING_STATUS = {"new": "pending", "in_process": "confirmed", "done": "completed",
                  "canceled": "cancelled"}  # fmt: skip
PAYMENT_STATUS = ("pending", "completed", "failed")
ROOM_TYPES = tuple(t.value for t in RoomType)
MAX_MONEY = "1e10"  # numeric(12, 2)
# Users and partners carried over cannot log in until they set a password: '!' is no hash
# of anything (the earlier schema kept no password at all).
NO_PASSWORD = "!"  # noqa: S105 - a locked marker, not a credential


def _words(values: tuple[str, ...] | list[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def code_of(column: str) -> str:
    """A name as a code: 'Travel agency' -> 'travel_agency'."""
    return f"lower(trim(both '_' from regexp_replace(trim({column}), '[^[:alnum:]]+', '_', 'g')))"


def utc(day: str) -> str:
    """An earlier date as the UTC midnight it stood for (the legacy views read it back)."""
    return f"({day}::timestamp AT TIME ZONE 'UTC')"


def status_case(column: str) -> str:
    whens = " ".join(f"WHEN '{old}' THEN '{new}'" for old, new in BOOKING_STATUS.items())
    return f"(CASE {column} {whens} END)::booking_status"


@dataclass(frozen=True)
class Rule:
    reason: str
    where: str  # over `s` (the staged row), after FROM `source` if given
    detail: str = "NULL"
    source: str = ""  # extra FROM items, e.g. a window over the stage


def required(*columns: str) -> list[Rule]:
    return [Rule("missing_value", f"s.{c} IS NULL", f"'{c}'") for c in columns]


def parent(column: str, table: str, key: str | None = None) -> list[Rule]:
    """NULL is a missing value; an id that did not land is a missing parent."""
    key = key or column
    return [
        Rule("missing_value", f"s.{column} IS NULL", f"'{column}'"),
        Rule(
            "missing_parent",
            f"NOT EXISTS (SELECT FROM old_{table} p WHERE p.{key} = s.{column} "
            "AND p._reason IS NULL)",
            f"'{table} ' || s.{column}",
        ),
    ]


def unique(table: str, key: str, value: str, name: str) -> Rule:
    """The lowest id keeps a value; the others are duplicates of it."""
    return Rule(
        "duplicate_value",
        f"w.{key} = s.{key} AND w.n > 1",
        f"'{name} ' || quote_literal(w.v) || ' is {table} ' || w.first",
        f"(SELECT {key}, v, row_number() OVER (PARTITION BY v ORDER BY {key}) AS n, "
        f"first_value({key}) OVER (PARTITION BY v ORDER BY {key}) AS first "
        f"FROM (SELECT {key}, {value} AS v FROM old_{table} WHERE _reason IS NULL) x "
        "WHERE v IS NOT NULL) w",
    )


def money(column: str) -> Rule:
    return Rule(
        "out_of_range",
        f"s.{column} < 0 OR s.{column} >= {MAX_MONEY}",
        f"'{column} ' || s.{column}",
    )


# Derived columns each stage gets (filled by the loader before or between the rules).
DERIVED: dict[str, tuple[tuple[str, str], ...]] = {
    "booking": (("_price", "numeric"),),
    "payment": (("_booking", "bigint"),),
    "bonus_account": (("_user", "bigint"),),
    "review": (("_booking", "bigint"), ("_rating", "int")),
}

RULES: dict[str, list[Rule]] = {
    "partnertype": [
        *required("type_name"),
        unique("partnertype", "partner_type_id", code_of("type_name"), "code"),
    ],
    "partner": [
        *parent("partner_type_id", "partnertype"),
        *required("name", "login", "email"),
        unique("partner", "partner_id", "login", "login"),
        unique("partner", "partner_id", "email", "email"),
    ],
    "hotel": [
        *parent("partner_id", "partner"),
        *required("hotel_name", "address", "city"),
        Rule("out_of_range", "s.rating NOT BETWEEN 1 AND 5", "'rating ' || s.rating"),
    ],
    "users": [
        *required("name", "second_name", "login", "email"),
        unique("users", "user_id", "login", "login"),
        unique("users", "user_id", "email", "email"),
    ],
    "roomfacility": [
        *required("facility_name"),
        unique("roomfacility", "facility_id", "facility_name", "name"),
    ],
    "room": [
        *parent("hotel_id", "hotel"),
        *required("capacity", "price", "room_type"),
        Rule("out_of_range", "s.capacity NOT BETWEEN 1 AND 32767", "'capacity ' || s.capacity"),
        money("price"),
        Rule(
            "unknown_value",
            f"lower(trim(s.room_type)) NOT IN ({_words(ROOM_TYPES)})",
            "'room_type ' || quote_literal(s.room_type)",
        ),
    ],
    "amenity": [
        *required("amenity_name"),
        unique("amenity", "amenity_id", "amenity_name", "name"),
    ],
    "hotelamenity": [*parent("hotel_id", "hotel"), *parent("amenity_id", "amenity")],
    "roomhasfacility": [
        *parent("room_id", "room"),
        *parent("facility_id", "roomfacility"),
    ],
    "paymentmethod": [
        *required("method_name"),
        unique("paymentmethod", "payment_method_id", code_of("method_name"), "code"),
    ],
    "booking": [
        *parent("user_id", "users"),
        *parent("room_id", "room"),
        *required("check_in_date", "check_out_date", "guests_number", "status"),
        Rule(
            "invalid_stay",
            "s.check_out_date <= s.check_in_date",
            "s.check_in_date || ' to ' || s.check_out_date",
        ),
        Rule(
            "out_of_range",
            "s.guests_number NOT BETWEEN 1 AND 32767",
            "'guests_number ' || s.guests_number",
        ),
        Rule(
            "unknown_value",
            f"s.status NOT IN ({_words(list(BOOKING_STATUS))})",
            "'status ' || s.status",
        ),
        Rule(
            "guests_over_capacity",
            "r.room_id = s.room_id AND s.guests_number > r.capacity",
            "s.guests_number || ' guests in room ' || r.room_id || ' for ' || r.capacity",
            "old_room r",
        ),
        # The price the new rules need: the earlier one, or the room's nightly price.
        Rule(
            "out_of_range",
            "r.room_id = s.room_id AND (coalesce(s.price, r.price * "
            f"(s.check_out_date - s.check_in_date)) NOT BETWEEN 0 AND {MAX_MONEY} - 0.01)",
            "'price ' || coalesce(s.price, r.price * (s.check_out_date - s.check_in_date))",
            "old_room r",
        ),
        # overlapping_stay: the loader's pass in booking order (not one UPDATE).
    ],
    "bookingstatushistory": [
        *parent("booking_id", "booking"),
        *required("new_status", "changed_at"),
        Rule(
            "unknown_value",
            f"s.new_status NOT IN ({_words(list(BOOKING_STATUS))}) "
            f"OR s.old_status NOT IN ({_words(list(BOOKING_STATUS))})",
            "s.old_status || ' -> ' || s.new_status",
        ),
        Rule(
            "second_opening",
            "w.booking_status_history_id = s.booking_status_history_id AND w.n > 1",
            "'booking ' || s.booking_id || ' opened by history row ' || w.first",
            "(SELECT booking_status_history_id, row_number() OVER w AS n, "
            "first_value(booking_status_history_id) OVER w AS first "
            "FROM old_bookingstatushistory WHERE _reason IS NULL AND old_status IS NULL "
            "WINDOW w AS (PARTITION BY booking_id ORDER BY booking_status_history_id)) w",
        ),
    ],
    "payment": [
        Rule("missing_value", "s._booking IS NULL", "'booking_id'"),
        Rule(
            "missing_parent",
            "NOT EXISTS (SELECT FROM old_booking p WHERE p.booking_id = s._booking "
            "AND p._reason IS NULL)",
            "'booking ' || s._booking",
        ),
        *parent("payment_method_id", "paymentmethod"),
        *required("payment_status"),
        Rule(
            "zero_amount",
            "b.booking_id = s._booking AND b._price = 0",
            "'booking ' || s._booking || ' costs 0'",
            "old_booking b",
        ),
        Rule(
            "payment_exceeds_price",
            "w.payment_id = s.payment_id AND w.n > 1",
            "'booking ' || s._booking || ' was paid by payment ' || w.first",
            "(SELECT payment_id, row_number() OVER w AS n, first_value(payment_id) OVER w "
            "AS first FROM old_payment WHERE _reason IS NULL AND payment_status = 'completed' "
            "WINDOW w AS (PARTITION BY _booking ORDER BY payment_id)) w",
        ),
    ],
    "userpaymentmethod": [
        *parent("user_id", "users"),
        *parent("payment_method_id", "paymentmethod"),
    ],
    "bonus_account": [
        Rule("missing_value", "s._user IS NULL", "'user_id'"),
        Rule(
            "missing_parent",
            "NOT EXISTS (SELECT FROM old_users p WHERE p.user_id = s._user AND p._reason IS NULL)",
            "'users ' || s._user",
        ),
        unique("bonus_account", "bonus_account_id", "_user", "user"),
    ],
    "bonus_transaction": [
        *parent("bonus_account_id", "bonus_account"),
        *required("amount", "transaction_type"),
        Rule(
            "unknown_value",
            "lower(trim(s.transaction_type)) NOT IN ('earn', 'spend')",
            "'transaction_type ' || quote_literal(s.transaction_type)",
        ),
        Rule("out_of_range", "abs(s.amount) >= 1e15", "'amount ' || s.amount"),
        Rule("zero_amount", "round(abs(s.amount)) = 0", "'amount ' || s.amount"),
        # overdraft: the loader's pass along each ledger.
    ],
    "review": [
        *parent("user_id", "users"),
        *parent("hotel_id", "hotel"),
        Rule("missing_value", "s._rating IS NULL", "'rating (its hotel has none)'"),
        Rule(
            "review_without_stay",
            "s._booking IS NULL",
            "'user ' || s.user_id || ' at hotel ' || s.hotel_id",
        ),
    ],
    "additional_service": [
        *required("service_name", "price"),
        money("price"),
        unique("additional_service", "service_id", "service_name", "name"),
    ],
    "booking_additional_service": [
        *parent("booking_id", "booking"),
        *parent("service_id", "additional_service"),
    ],
}

# Where each earlier table lands: new table and its key columns, matched to the old ones.
TARGETS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "partnertype": ("partner_types", ("id",), ("partner_type_id",)),
    "partner": ("partners", ("id",), ("partner_id",)),
    "hotel": ("hotels", ("id",), ("hotel_id",)),
    "users": ("users", ("id",), ("user_id",)),
    "roomfacility": ("facilities", ("id",), ("facility_id",)),
    "room": ("rooms", ("id",), ("room_id",)),
    "amenity": ("amenities", ("id",), ("amenity_id",)),
    "hotelamenity": ("hotel_amenities", ("hotel_id", "amenity_id"), ("hotel_id", "amenity_id")),
    "roomhasfacility": ("room_facilities", ("room_id", "facility_id"), ("room_id", "facility_id")),
    "paymentmethod": ("payment_methods", ("id",), ("payment_method_id",)),
    "booking": ("bookings", ("id",), ("booking_id",)),
    "bookingstatushistory": ("booking_status_history", ("id",), ("booking_status_history_id",)),
    "payment": ("payments", ("id",), ("payment_id",)),
    "userpaymentmethod": ("user_payment_methods", ("id",), ("user_payment_method_id",)),
    "bonus_account": ("bonus_accounts", ("id",), ("bonus_account_id",)),
    "bonus_transaction": ("bonus_transactions", ("id",), ("transaction_id",)),
    "review": ("reviews", ("id",), ("review_id",)),
    "additional_service": ("adoption_id_map", (), ("service_id",)),  # one old -> n new
    "booking_additional_service": ("booking_services", ("booking_id",), ("booking_id",)),
}
TARGET_TABLES = (
    "partner_types", "partners", "hotels", "users", "facilities", "rooms", "amenities",
    "hotel_amenities", "room_facilities", "payment_methods", "bookings",
    "booking_status_history", "payments", "user_payment_methods", "bonus_accounts",
    "bonus_transactions", "reviews", "services", "booking_services", "guest_spending",
)  # fmt: skip

# seeding.plan.booking_code in SQL: 8 characters of the database's alphabet from a bijection
# of the id, unique without retries.
CODE = " || ".join(
    f"substr('ABCDEFGHJKLMNPQRSTUVWXYZ23456789', ((x.x >> {5 * i}) & 31)::int + 1, 1)"
    for i in range(8)
)

# The INSERT of each table's passing rows (services and booking services: see the loader).
INSERTS: dict[str, str] = {
    "partnertype": f"""
INSERT INTO partner_types (id, code, name, description)
SELECT partner_type_id, {code_of("type_name")}, type_name, description
FROM old_partnertype WHERE _reason IS NULL""",
    "partner": f"""
INSERT INTO partners (id, partner_type_id, name, second_name, email, phone, login,
                      password_hash)
SELECT partner_id, partner_type_id, name, second_name, email, phone, login, '{NO_PASSWORD}'
FROM old_partner WHERE _reason IS NULL""",
    "hotel": """
INSERT INTO hotels (id, partner_id, name, address, city, phone, email, description, stars)
SELECT hotel_id, partner_id, hotel_name, address, city, phone, email, description, rating
FROM old_hotel WHERE _reason IS NULL""",
    "users": f"""
INSERT INTO users (id, first_name, last_name, email, phone, login, password_hash)
SELECT user_id, name, second_name, email, phone, login, '{NO_PASSWORD}'
FROM old_users WHERE _reason IS NULL""",
    "roomfacility": """
INSERT INTO facilities (id, name, description)
SELECT facility_id, facility_name, facility_description
FROM old_roomfacility WHERE _reason IS NULL""",
    "room": """
INSERT INTO rooms (id, hotel_id, number, room_type, capacity, price, description)
SELECT room_id, hotel_id, room_id::text, lower(trim(room_type))::room_type, capacity, price,
       description
FROM old_room WHERE _reason IS NULL""",
    "amenity": """
INSERT INTO amenities (id, name, description)
SELECT amenity_id, amenity_name, amenity_description FROM old_amenity WHERE _reason IS NULL""",
    "hotelamenity": """
INSERT INTO hotel_amenities (hotel_id, amenity_id)
SELECT hotel_id, amenity_id FROM old_hotelamenity WHERE _reason IS NULL""",
    "roomhasfacility": """
INSERT INTO room_facilities (room_id, facility_id)
SELECT room_id, facility_id FROM old_roomhasfacility WHERE _reason IS NULL""",
    "paymentmethod": f"""
INSERT INTO payment_methods (id, code, name)
SELECT payment_method_id, {code_of("method_name")}, method_name
FROM old_paymentmethod WHERE _reason IS NULL""",
    "booking": f"""
INSERT INTO bookings (id, code, user_id, room_id, check_in, check_out, guests, status,
                      total_price, paid_state, created_at, updated_at)
SELECT booking_id, c.code, user_id, room_id, check_in_date, check_out_date, guests_number,
       {status_case("status")}, _price,
       (CASE WHEN _price = 0 OR settled._booking IS NOT NULL THEN 'paid' ELSE 'unpaid' END)
         ::paid_state,
       coalesce({utc("date_creation")}, now()), coalesce({utc("date_creation")}, now())
FROM old_booking
LEFT JOIN (SELECT DISTINCT _booking FROM old_payment
           WHERE _reason IS NULL AND payment_status = 'completed') settled
  ON settled._booking = old_booking.booking_id,
LATERAL (SELECT mod(booking_id::numeric * 679535556991 + 25214903917, 1099511627776)::bigint
         AS x) x,
LATERAL (SELECT {CODE} AS code) c
WHERE _reason IS NULL""",
    "bookingstatushistory": f"""
INSERT INTO booking_status_history (id, booking_id, old_status, new_status, changed_at,
                                    changed_by)
SELECT booking_status_history_id, booking_id, {status_case("old_status")},
       {status_case("new_status")}, {utc("changed_at")}, 'earlier system'
FROM old_bookingstatushistory WHERE _reason IS NULL""",
    # The earlier payment had no amount and paid a booking whole (paid yes/no): its amount
    # is the booking's price.
    "payment": f"""
INSERT INTO payments (id, booking_id, method_id, amount, status, created_at)
SELECT p.payment_id, p._booking, p.payment_method_id, b._price,
       p.payment_status::payment_status, coalesce({utc("p.payment_date")}, now())
FROM old_payment p JOIN old_booking b ON b.booking_id = p._booking
WHERE p._reason IS NULL""",
    "userpaymentmethod": """
INSERT INTO user_payment_methods (id, user_id, method_id, details)
SELECT user_payment_method_id, user_id, payment_method_id,
       CASE WHEN details IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('legacy', details) END
FROM old_userpaymentmethod WHERE _reason IS NULL""",
    "bonus_account": """
INSERT INTO bonus_accounts (id, user_id)
SELECT bonus_account_id, _user FROM old_bonus_account WHERE _reason IS NULL""",
    # The type says the direction; the earlier amount's sign was noise.
    "bonus_transaction": f"""
INSERT INTO bonus_transactions (id, account_id, amount, kind, created_at)
SELECT transaction_id, bonus_account_id,
       round(abs(amount))::bigint
         * CASE lower(trim(transaction_type)) WHEN 'earn' THEN 1 ELSE -1 END,
       lower(trim(transaction_type))::bonus_kind, coalesce({utc("transaction_date")}, now())
FROM old_bonus_transaction WHERE _reason IS NULL""",
    "review": f"""
INSERT INTO reviews (id, booking_id, user_id, hotel_id, rating, comment, created_at)
SELECT review_id, _booking, user_id, hotel_id, _rating, comment_text,
       coalesce({utc("date_creation")}, now())
FROM old_review WHERE _reason IS NULL""",
}

# Earlier values that are derived now, where the earlier row disagreed with what they are
# derived from: not quarantined (the row fits), reported with the reconciliation.
NOTES: dict[str, str] = {
    "booking.paid disagrees with its completed payments (paid is derived from them)": """
SELECT count(*) FROM old_booking b
LEFT JOIN (SELECT DISTINCT _booking FROM old_payment
           WHERE _reason IS NULL AND payment_status = 'completed') settled
  ON settled._booking = b.booking_id
WHERE b._reason IS NULL AND b.paid IS NOT NULL
AND (b.paid = 'yes') <> (b._price = 0 OR settled._booking IS NOT NULL)""",
    "booking.payment_id names a payment of another booking (payments name their booking)": """
SELECT count(*) FROM old_booking b JOIN old_payment p ON p.payment_id = b.payment_id
WHERE b._reason IS NULL AND p._booking <> b.booking_id""",
    "users.bonus_account_id names an account of another user (accounts name their user)": """
SELECT count(*) FROM old_users u JOIN old_bonus_account a ON a.bonus_account_id = u.bonus_account_id
WHERE u._reason IS NULL AND a._user <> u.user_id""",
}

# Card numbers never enter the new database (nor its quarantine): all but the last four
# digits of any run of 12 or more are masked as the rows are staged.
MASK_CARDS = r"""
UPDATE old_userpaymentmethod
SET details = regexp_replace(details, '(?:[0-9][ -]?){8,15}([0-9]{4})', '****\1', 'g')
WHERE details ~ '(?:[0-9][ -]?){11,}[0-9]'"""
