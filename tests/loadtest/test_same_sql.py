"""The journeys as pgbench scripts (loadtest.same_sql) run against the test server and leave
the rows the runner's journeys leave."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest

from hotel_models.settings import libpq_url
from loadtest import queries as q
from loadtest import same_sql
from loadtest.bench import pgbench_path
from loadtest.mix import Mix

CLIENTS = 2
PER_CLIENT = 3
# Every branch of the booking journey, most of them every time.
BOOKERS = Mix(
    journeys={"guest_booking": 1},
    guest={
        "use_bonus_points": 1.0,
        "add_services": 1.0,
        "review": 1.0,
    },
    payment={"full": 1, "partial": 1, "on_arrival": 1},
)


@pytest.fixture
def drawn(load_url: str) -> Iterator[Any]:
    def run(journey: str, mix: Mix, seed: int) -> list[dict[str, Any]]:
        with psycopg.connect(libpq_url(load_url)) as conn:
            sample = same_sql.sample(conn)
        rows = same_sql.draw(sample, mix, journey, CLIENTS * PER_CLIENT, seed)
        if journey == "guest_booking":  # every branch, whatever the draws
            for i, row in enumerate(rows):
                row["cancel"], row["change"] = int(i % 3 == 0), i % 2
        same_sql.load_draws(load_url, journey, rows)
        done = same_sql.run_pgbench(
            pgbench_path(), load_url, journey, CLIENTS, 0, len(rows), PER_CLIENT
        )
        assert done.journeys == len(rows)
        return rows

    yield run
    same_sql.drop_draws(load_url)


def test_every_statement_of_a_script_is_a_runner_statement() -> None:
    for journey in same_sql.JOURNEYS:
        text = same_sql.script(journey)
        assert "%(" not in text  # every placeholder became a pgbench variable
        assert "BEGIN" not in text
        assert "COMMIT" not in text
    booking = same_sql.script("guest_booking")
    for statement in (q.SEARCH, q.INSERT_BOOKING, q.PAY_DUE, q.MOVE, q.ADD_REVIEW):
        head = statement.strip().splitlines()[0].split("%(")[0]
        assert head in booking


def test_the_booking_script_leaves_the_rows_of_the_booking_journey(
    load_url: str, drawn: Any
) -> None:
    rows = drawn("guest_booking", BOOKERS, 11)
    with psycopg.connect(libpq_url(load_url)) as conn:
        for row in rows:
            found = conn.execute(
                "SELECT id, room_id, user_id, check_in, check_out, status, total_price, "
                "bonus_points_used FROM bookings WHERE idempotency_key = %s",
                (row["key"],),
            ).fetchone()
            assert found is not None, row["key"]
            booking, room, user, check_in, check_out, status, total, points = found
            assert (room, user, points) == (row["room"], row["user"], row["points"])
            dates = ("moved_in", "moved_out") if row["change"] else ("check_in", "check_out")
            assert (check_in, check_out) == (row[dates[0]], row[dates[1]])
            services = conn.execute(
                "SELECT coalesce(array_agg(service_id), '{}') FROM booking_services "
                "WHERE booking_id = %s",
                (booking,),
            ).fetchone()
            assert services is not None
            assert sorted(services[0]) == sorted(row["services"])
            paid = conn.execute(
                "SELECT coalesce(sum(amount), 0) FROM payments "
                "WHERE booking_id = %s AND status = 'completed'",
                (booking,),
            ).fetchone()
            reviews = conn.execute(
                "SELECT count(*) FROM reviews WHERE booking_id = %s", (booking,)
            ).fetchone()
            if row["cancel"]:
                assert status == "cancelled"
                assert paid == (round(total * row["share"], 2),)
                assert reviews == (0,)
            else:
                assert status == "completed"
                assert paid == (total,)  # the rest at check-in
                assert reviews == (1,)


def test_the_partner_and_reader_scripts_run(load_url: str, drawn: Any) -> None:
    rows = drawn("partner", Mix({"partner": 1}), 5)
    with psycopg.connect(libpq_url(load_url)) as conn:
        for row in rows:
            if row["op"] == 1:
                added = conn.execute(
                    "SELECT count(*) FROM rooms WHERE number = %s", (row["number"],)
                ).fetchone()
                assert added == (1,)
            if row["op"] == 4:
                added = conn.execute(
                    "SELECT price FROM services WHERE name = %s", (row["service_name"],)
                ).fetchone()
                assert added == (Decimal(row["service_price"]),)
    drawn("guest_browse", Mix({"guest_browse": 1}, {"manage_bookings": 1.0}), 6)
    drawn("analyst", Mix({"analyst": 1}), 7)
