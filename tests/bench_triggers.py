"""What the rule and audit triggers cost create_booking: median latency with the triggers
enabled vs disabled (ALTER TABLE ... DISABLE TRIGGER USER), in one run, in a scratch
database on a throwaway embedded server (or HOTEL_TEST_DATABASE_URL's server).

    .venv/bin/python -m tests.bench_triggers [--bookings 300]

Rounds alternate on/off so drift (cache warm-up, table growth) hits both sides alike.
Constraints (EXCLUDE, CHECK, FK, unique) stay on in both: only triggers are measured.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta

from alembic import command
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from deploy.embedded import throwaway_server
from deploy.migrate.runner import alembic_config
from hotel_models import operations as ops
from tests.models.world import World, make_world


@contextmanager
def server() -> Iterator[str]:
    if url := os.environ.get("HOTEL_TEST_DATABASE_URL"):
        yield url
        return
    with throwaway_server("hotel-bench-") as url:
        yield url


def set_triggers(engine: Engine, enabled: bool) -> None:
    verb = "ENABLE" if enabled else "DISABLE"
    with engine.begin() as conn:
        tables = conn.execute(
            text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).scalars()
        for table in list(tables):
            conn.execute(text(f'ALTER TABLE "{table}" {verb} TRIGGER USER'))


def book_once(engine: Engine, world: World, day: date) -> float:
    started = time.perf_counter()
    with Session(engine) as session:
        session.execute(text("SET LOCAL ROLE hotel_app"))
        ops.create_booking(
            session,
            user_id=world.guest.id,
            room_id=world.room.id,
            check_in=day,
            check_out=day + timedelta(days=1),
            guests=1,
            service_ids=[world.breakfast.id],
            bonus_points=1,
        )
        session.commit()
    return (time.perf_counter() - started) * 1000


def alternating_rounds(
    sides: dict[str, Callable[[Engine], None]], bookings: int, rounds: int
) -> dict[str, list[float]]:
    """create_booking latencies (ms) on a fresh database, `rounds` rounds per side in turn, each
    side switched on by its callable: both sides see the same server, data and noise."""
    logging.getLogger("alembic").setLevel(logging.WARNING)
    samples: dict[str, list[float]] = {side: [] for side in sides}
    with server() as admin_url:
        name = f"bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        try:
            command.upgrade(alembic_config(url=url), "head")
            # One pooled connection, as a service would keep: connect time is not measured.
            engine = create_engine(url, pool_size=1)
            with Session(engine, expire_on_commit=False) as session:
                world = make_world(session)
                session.execute(
                    text(
                        "INSERT INTO bonus_transactions (account_id, amount, kind) "
                        "VALUES (:a, 1000000, 'promo')"
                    ),
                    {"a": world.account.id},
                )
                session.commit()
            day = date(2040, 1, 1)
            per_round = max(1, bookings // rounds)
            for _ in range(3):  # warm-up, not counted
                book_once(engine, world, day)
                day += timedelta(days=1)
            for round_ in range(len(sides) * rounds):
                side = list(sides)[round_ % len(sides)]
                sides[side](engine)
                for _ in range(per_round):
                    samples[side].append(book_once(engine, world, day))
                    day += timedelta(days=1)
            engine.dispose()
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300, help="bookings per side")
    parser.add_argument("--rounds", type=int, default=6, help="alternating on/off rounds")
    args = parser.parse_args()
    switches = {
        "enabled": lambda engine: set_triggers(engine, True),
        "disabled": lambda engine: set_triggers(engine, False),
    }
    samples = alternating_rounds(switches, args.bookings, args.rounds)
    on, off = statistics.median(samples["enabled"]), statistics.median(samples["disabled"])
    print(f"create_booking, {len(samples['enabled'])} bookings per side, median latency:")
    print(f"  triggers enabled : {on:6.2f} ms  (p90 {quantile(samples['enabled']):.2f} ms)")
    print(f"  triggers disabled: {off:6.2f} ms  (p90 {quantile(samples['disabled']):.2f} ms)")
    print(f"  trigger cost     : {on - off:+6.2f} ms  ({(on / off - 1) * 100:+.0f} %)")


def quantile(values: list[float], q: int = 9) -> float:
    return statistics.quantiles(values, n=10)[q - 1]


if __name__ == "__main__":
    main()
