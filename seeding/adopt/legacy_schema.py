"""The earlier system's schema (Flyway V1-V5): what `hotel adopt` reads, how it recognises it,
and the DDL that recreates it for tests and the benchmark.

Written from the earlier migrations' facts: SERIAL keys, few constraints (foreign keys only
partner -> partnertype, hotel -> partner, room -> hotel and the pair tables), three enums.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, text

from hotel_models.errors import HotelError

FLYWAY_TABLE = "flyway_schema_history"
LATEST_VERSION = 5

# Every earlier table in load order (parents first): its key column (None for the pair
# tables) and its columns with the type they are staged as (enums as text).
TABLES: dict[str, tuple[str | None, tuple[tuple[str, str], ...]]] = {
    "partnertype": ("partner_type_id", (
        ("partner_type_id", "bigint"), ("type_name", "text"), ("description", "text"))),
    "partner": ("partner_id", (
        ("partner_id", "bigint"), ("partner_type_id", "bigint"), ("name", "text"),
        ("second_name", "text"), ("email", "text"), ("phone", "text"), ("login", "text"))),
    "hotel": ("hotel_id", (
        ("hotel_id", "bigint"), ("partner_id", "bigint"), ("rating", "bigint"),
        ("hotel_name", "text"), ("address", "text"), ("city", "text"), ("phone", "text"),
        ("email", "text"), ("description", "text"))),
    "users": ("user_id", (
        ("user_id", "bigint"), ("bonus_account_id", "bigint"), ("name", "text"),
        ("second_name", "text"), ("email", "text"), ("phone", "text"), ("login", "text"))),
    "roomfacility": ("facility_id", (
        ("facility_id", "bigint"), ("facility_name", "text"),
        ("facility_description", "text"))),
    "room": ("room_id", (
        ("room_id", "bigint"), ("hotel_id", "bigint"), ("capacity", "bigint"),
        ("price", "numeric"), ("description", "text"), ("room_type", "text"))),
    "amenity": ("amenity_id", (
        ("amenity_id", "bigint"), ("amenity_name", "text"), ("amenity_description", "text"))),
    "hotelamenity": (None, (("hotel_id", "bigint"), ("amenity_id", "bigint"))),
    "roomhasfacility": (None, (("room_id", "bigint"), ("facility_id", "bigint"))),
    "paymentmethod": ("payment_method_id", (
        ("payment_method_id", "bigint"), ("method_name", "text"))),
    "booking": ("booking_id", (
        ("booking_id", "bigint"), ("user_id", "bigint"), ("room_id", "bigint"),
        ("payment_id", "bigint"), ("check_in_date", "date"), ("check_out_date", "date"),
        ("guests_number", "bigint"), ("status", "text"), ("price", "numeric"),
        ("date_creation", "date"), ("paid", "text"))),
    "bookingstatushistory": ("booking_status_history_id", (
        ("booking_status_history_id", "bigint"), ("booking_id", "bigint"),
        ("old_status", "text"), ("new_status", "text"), ("changed_at", "date"))),
    "payment": ("payment_id", (
        ("payment_id", "bigint"), ("booking_id", "bigint"), ("payment_date", "date"),
        ("payment_method_id", "bigint"), ("payment_status", "text"))),
    "userpaymentmethod": ("user_payment_method_id", (
        ("user_payment_method_id", "bigint"), ("user_id", "bigint"),
        ("payment_method_id", "bigint"), ("details", "text"))),
    "bonus_account": ("bonus_account_id", (
        ("bonus_account_id", "bigint"), ("user_id", "bigint"), ("transaction_id", "bigint"))),
    "bonus_transaction": ("transaction_id", (
        ("transaction_id", "bigint"), ("bonus_account_id", "bigint"),
        ("transaction_date", "date"), ("amount", "numeric"), ("transaction_type", "text"))),
    "review": ("review_id", (
        ("review_id", "bigint"), ("user_id", "bigint"), ("hotel_id", "bigint"),
        ("comment_text", "text"), ("date_creation", "date"))),
    "additional_service": ("service_id", (
        ("service_id", "bigint"), ("price", "numeric"), ("service_name", "text"),
        ("service_description", "text"))),
    "booking_additional_service": (None, (("booking_id", "bigint"), ("service_id", "bigint"))),
}  # fmt: skip


def columns(table: str) -> list[str]:
    return [name for name, _ in TABLES[table][1]]


@dataclass(frozen=True)
class Detected:
    version: int
    analysts: list[str]  # LOGIN members of the earlier `analytic` role


def detect(conn: Connection) -> Detected:
    """The earlier schema at V5 with every table and column `hotel adopt` reads, or a
    HotelError naming the first thing that differs."""
    present: dict[str, set[str]] = {}
    for table, column in conn.execute(
        text(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public'"
        )
    ):
        present.setdefault(table, set()).add(column)
    if FLYWAY_TABLE not in present:
        if "alembic_version" in present:
            raise HotelError(
                "the source is a database of this platform, not the earlier system: "
                "nothing to adopt"
            )
        raise HotelError(
            f"the source is not the earlier system's database: no table {FLYWAY_TABLE}"
        )
    versions = conn.execute(
        text(
            f"SELECT version FROM {FLYWAY_TABLE} WHERE success AND version IS NOT NULL "
            "AND version ~ '^[0-9]+$'"
        )
    ).scalars()
    version = max((int(v) for v in versions), default=0)
    if version != LATEST_VERSION:
        raise HotelError(
            f"the earlier schema is at Flyway version {version}, adopt reads version "
            f"{LATEST_VERSION}: migrate the earlier system to V{LATEST_VERSION} first"
        )
    for table in TABLES:
        if table not in present:
            raise HotelError(f"the earlier schema has no table {table}: not the V5 schema")
        missing = [c for c in columns(table) if c not in present[table]]
        if missing:
            raise HotelError(f"the earlier table {table} has no column {missing[0]}")
    analysts = conn.execute(
        text(
            "SELECT r.rolname FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid "
            "JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname = 'analytic' "
            "AND r.rolcanlogin ORDER BY r.rolname"
        )
    ).scalars()
    return Detected(version, list(analysts))


# The earlier migrations, rewritten from their facts (tests and the benchmark build the
# source database with them).
V1 = """
CREATE TABLE partnertype (partner_type_id SERIAL PRIMARY KEY,
  type_name varchar(100) UNIQUE NOT NULL, description text);
CREATE TABLE partner (partner_id SERIAL PRIMARY KEY,
  partner_type_id int REFERENCES partnertype, name varchar(100) NOT NULL,
  second_name varchar(100), email varchar(100), phone varchar(50), login varchar(100));
CREATE TABLE hotel (hotel_id SERIAL PRIMARY KEY, partner_id int REFERENCES partner,
  rating int, hotel_name varchar(200), address varchar(300), city varchar(100),
  phone varchar(50), email varchar(100), description text);
"""
V2 = """
CREATE TABLE users (user_id SERIAL PRIMARY KEY, bonus_account_id int, name varchar(100),
  second_name varchar(100), email varchar(100), phone varchar(50), login varchar(100));
CREATE TABLE roomfacility (facility_id SERIAL PRIMARY KEY,
  facility_name varchar(100) NOT NULL, facility_description text);
CREATE TABLE room (room_id SERIAL PRIMARY KEY, hotel_id int REFERENCES hotel,
  capacity int, price decimal, description text, room_type varchar(50));
CREATE TABLE amenity (amenity_id SERIAL PRIMARY KEY, amenity_name varchar(100),
  amenity_description text);
CREATE TABLE hotelamenity (hotel_id int REFERENCES hotel, amenity_id int REFERENCES amenity,
  PRIMARY KEY (hotel_id, amenity_id));
CREATE TABLE roomhasfacility (room_id int REFERENCES room,
  facility_id int REFERENCES roomfacility, PRIMARY KEY (room_id, facility_id));
"""
V3 = """
CREATE TYPE booking_status_enum AS ENUM ('new', 'canceled', 'in_process', 'done');
CREATE TYPE paid_enum AS ENUM ('yes', 'no');
CREATE TYPE payment_status_enum AS ENUM ('pending', 'completed', 'failed');
CREATE TABLE booking (booking_id SERIAL PRIMARY KEY, user_id int, room_id int, payment_id int,
  check_in_date date, check_out_date date, guests_number int, status booking_status_enum,
  price decimal, date_creation date, paid paid_enum);
CREATE TABLE bookingstatushistory (booking_status_history_id SERIAL PRIMARY KEY,
  booking_id int, old_status booking_status_enum, new_status booking_status_enum,
  changed_at date);
CREATE TABLE paymentmethod (payment_method_id SERIAL PRIMARY KEY,
  method_name varchar(50) UNIQUE);
CREATE TABLE payment (payment_id SERIAL PRIMARY KEY, booking_id int, payment_date date,
  payment_method_id int, payment_status payment_status_enum);
CREATE TABLE userpaymentmethod (user_payment_method_id SERIAL PRIMARY KEY, user_id int,
  payment_method_id int, details varchar(255));
CREATE TABLE bonus_account (bonus_account_id SERIAL PRIMARY KEY, user_id int,
  transaction_id int);
CREATE TABLE bonus_transaction (transaction_id SERIAL PRIMARY KEY, bonus_account_id int,
  transaction_date date, amount decimal, transaction_type varchar(10));
CREATE TABLE review (review_id SERIAL PRIMARY KEY, user_id int, hotel_id int,
  comment_text text, date_creation date);
CREATE TABLE additional_service (service_id SERIAL PRIMARY KEY, price decimal,
  service_name varchar(100), service_description text);
CREATE TABLE booking_additional_service (booking_id int, service_id int,
  PRIMARY KEY (booking_id, service_id));
"""
V4 = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'analytic') THEN
    CREATE ROLE analytic NOLOGIN;
  END IF;
END $$;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO analytic;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO analytic;
"""
V5 = """
CREATE INDEX room_hotel_price_idx ON room (hotel_id, price DESC) INCLUDE (room_id);
CREATE INDEX payment_completed_idx ON payment (booking_id)
  WHERE payment_status = 'completed';
CREATE INDEX booking_user_idx ON booking (user_id, booking_id);
CREATE INDEX hotel_rating_idx ON hotel (rating DESC);
CREATE INDEX hotelamenity_idx ON hotelamenity (hotel_id, amenity_id);
CREATE INDEX room_price_capacity_idx ON room (price, capacity DESC) INCLUDE (hotel_id);
CREATE INDEX hotel_city_idx ON hotel (city);
"""
FLYWAY = """
CREATE TABLE flyway_schema_history (installed_rank int PRIMARY KEY, version varchar(50),
  description varchar(200) NOT NULL, type varchar(20) NOT NULL, script varchar(1000) NOT NULL,
  checksum int, installed_by varchar(100) NOT NULL,
  installed_on timestamp NOT NULL DEFAULT now(), execution_time int NOT NULL,
  success boolean NOT NULL)
"""
MIGRATIONS = (V1, V2, V3, V4, V5)
DESCRIPTIONS = ("partners hotels", "users rooms amenities", "bookings payments loyalty",
                "analytic role", "indexes")  # fmt: skip


def create_earlier_schema(conn: Connection, analysts: list[str] = [], version: int = 5) -> None:  # noqa: B006
    """The earlier schema up to `version`, recorded in its Flyway history like Flyway does,
    and its analysts as it created them (LOGIN, in role analytic; the test server's own)."""
    conn.exec_driver_sql(FLYWAY)
    for number, (script, description) in enumerate(zip(MIGRATIONS, DESCRIPTIONS, strict=True), 1):
        if number > version:
            break
        conn.exec_driver_sql(script)
        conn.execute(
            text(
                "INSERT INTO flyway_schema_history (installed_rank, version, description, "
                "type, script, checksum, installed_by, execution_time, success) "
                "VALUES (:n, :v, :d, 'SQL', :s, 0, current_user, 1, true)"
            ),
            {"n": number, "v": str(number), "d": description, "s": f"V{number}__{description}.sql"},
        )
    for name in analysts:
        # Their scheme (name_123), recreated to prove it is never carried over.
        conn.exec_driver_sql(
            f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{name}') THEN "
            f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{name}_123' IN ROLE analytic; END IF; END $$"
        )
