"""Benchmark: the HA write path. Bookings per second through HAProxy on the local HA stack
(Patroni, synchronous standby) against the embedded server at the same concurrency, and what
synchronous commit costs: the same run with the load's sessions at synchronous_commit on,
local and off.

    python -m loadtest.ha_bench [--clients 8] [--duration 20] [--scale demo] [--port-offset 0]

Starts both platforms itself, each in a new state directory under /var/tmp (`hotel up`,
`hotel up --ha` with HOTEL_CLUSTER_PORT_OFFSET=--port-offset), seeds the same data, and
tears them down at the end. Every client sends create_booking, the transaction `hotel load`
sends (loadtest.runner.booking_work: one round trip), back to back on its own connection as
hotel_app, with bookings drawn like the load's (loadtest.same_sql: a free room each, so no
conflict stops a client). The setting is the role's (ALTER ROLE hotel_app SET
synchronous_commit), which every new session of the run takes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import uvloop

from hotel_models.roles import HOTEL_APP, login_url
from hotel_models.settings import libpq_url
from loadtest import same_sql
from loadtest.db import LoadConnection
from loadtest.mix import load_mix
from loadtest.runner import booking_work
from seeding.scratch import Scratch, scratch_platform

SETTINGS = ("on", "local", "off")
# mkdtemp makes each state directory; its parent must be one the postgres user can reach.
STATE_PARENT = "/var/tmp"  # noqa: S108


@dataclass(frozen=True)
class Figures:
    bookings: int
    seconds: float
    p50_ms: float
    p99_ms: float
    in_database: int  # bookings of the run found afterwards (== bookings: none lost)
    ran_out: bool  # every drawn booking was sent: the run may have ended before its duration

    @property
    def per_s(self) -> float:
        return self.bookings / self.seconds


def app_url(scratch: Scratch) -> str:
    """The service's login on the scratch platform (`hotel up` wrote its password)."""
    password = (Path(scratch.env["HOTEL_STATE_DIR"]) / "app.password").read_text().strip()
    return login_url(scratch.server, HOTEL_APP, password)


def set_synchronous_commit(url: str, value: str) -> None:
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute(f"ALTER ROLE {HOTEL_APP} SET synchronous_commit = '{value}'")


def draws(url: str, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """create_booking parameters, conflict-free against the data as it is now."""
    with psycopg.connect(libpq_url(url)) as conn:
        sample = same_sql.sample(conn)
    for row in same_sql.draw(sample, load_mix(), "guest_booking", count, seed):
        yield {
            k: row[k]
            for k in (
                "user",
                "room",
                "check_in",
                "check_out",
                "guests",
                "option",
                "services",
                "points",
                "key",
            )
        }


async def book(url: str, clients: int, duration: float, rows: list[dict[str, Any]]) -> Figures:
    """`clients` connections each sending create_booking back to back for `duration` s from
    the moment all are connected, or until the drawn bookings run out (a fast server may book
    them all first: the rate is still bookings over the seconds the run took, and the figures
    say it ran out)."""
    queue = iter(rows)
    sent: list[str] = []
    latencies: list[float] = []

    async def client(conn: LoadConnection, deadline: float) -> None:
        while time.monotonic() < deadline and (params := next(queue, None)) is not None:
            sent.append(params["key"])
            began = time.perf_counter()
            await booking_work(params)(conn)
            latencies.append(time.perf_counter() - began)

    async with contextlib.AsyncExitStack() as opened:
        connections = [
            await opened.enter_async_context(await LoadConnection.open(libpq_url(url)))
            for _ in range(clients)
        ]
        started = time.monotonic()
        await asyncio.gather(*(client(conn, started + duration) for conn in connections))
        seconds = time.monotonic() - started
    async with await psycopg.AsyncConnection.connect(libpq_url(url)) as conn:
        found = await (
            await conn.execute(
                "SELECT count(*) FROM bookings WHERE idempotency_key = ANY(%s)", (sent,)
            )
        ).fetchone()
    cuts = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return Figures(
        len(latencies),
        seconds,
        cuts[49] * 1000,
        cuts[98] * 1000,
        found[0] if found else 0,
        ran_out=len(sent) == len(rows),
    )


def measure(scratch: Scratch, setting: str, clients: int, duration: float, seed: int) -> Figures:
    set_synchronous_commit(scratch.server, setting)
    try:
        # More than a run can book here (about 1,300 a second on two quiet cores); a faster
        # server books them all before the duration is up, and the figures say so.
        rows = list(draws(scratch.server, int(2000 * duration) + 100 * clients, seed))
        return uvloop.run(book(app_url(scratch), clients, duration, rows))
    finally:
        set_synchronous_commit(scratch.server, "on")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="connections, each booking")
    parser.add_argument("--duration", type=int, default=20, help="seconds per run")
    parser.add_argument("--scale", default="demo", help="seed of both platforms")
    parser.add_argument("--port-offset", type=int, default=0, help="HA stack ports + N")
    args = parser.parse_args(argv)
    load1 = os.getloadavg()[0]
    results: dict[str, Figures] = {}
    up = ("--seed", args.scale)
    with scratch_platform("bench-embedded-", up=up, under=STATE_PARENT) as embedded:
        results["embedded, on"] = measure(embedded, "on", args.clients, args.duration, 1)
        results["embedded, off"] = measure(embedded, "off", args.clients, args.duration, 2)
    offset = {"HOTEL_CLUSTER_PORT_OFFSET": str(args.port_offset)}
    with scratch_platform("bench-ha-", up=("--ha", *up), settings=offset, under=STATE_PARENT) as ha:
        for i, setting in enumerate(SETTINGS):
            results[f"HA via HAProxy, {setting}"] = measure(
                ha, setting, args.clients, args.duration, 3 + i
            )
    print(
        f"machine: {os.cpu_count()} cores, load average {load1:.2f} before the run, "
        f"{os.getloadavg()[0]:.2f} after (shared with other work: figures are indicative)"
    )
    print(
        f"create_booking back to back, {args.clients} connections, {args.duration} s per run, "
        f"seed {args.scale}"
    )
    base = results["embedded, on"].per_s
    ha_on = results["HA via HAProxy, on"].per_s
    print("run | bookings/s | p50 ms | p99 ms | vs embedded on | vs HA on | lost")
    for name, f in results.items():
        print(
            f"{name} | {f.per_s:.0f} | {f.p50_ms:.1f} | {f.p99_ms:.1f} | "
            f"{f.per_s / base:.2f}x | {f.per_s / ha_on:.2f}x | {f.bookings - f.in_database}"
            + (f" (drawn bookings ran out after {f.seconds:.1f} s)" if f.ran_out else "")
        )


if __name__ == "__main__":
    main()
