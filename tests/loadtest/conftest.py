"""A migrated database with the load fixture, and one short run shared by the tests that
only read its figures (journeys, metrics, books, report): one run keeps the suite fast."""

from __future__ import annotations

import asyncio
import socket
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import create_engine, pool

from hotel_models.roles import sync_service_roles
from hotel_models.settings import get_settings
from loadtest.fixture import ensure_seeded
from loadtest.metrics import Metrics
from loadtest.mix import Mix
from loadtest.runner import Options, Result, run
from loadtest.stats import Recorder

# Every journey and every branch of the guest journey, often.
EVERYTHING = Mix(
    journeys={"guest_browse": 10, "guest_booking": 50, "partner": 20, "analyst": 20},
    guest={
        "manage_bookings": 0.5,
        "use_bonus_points": 1.0,
        "add_services": 0.7,
        "change_dates": 0.4,
        "cancel": 0.3,
        "review": 1.0,
    },
    payment={"full": 1, "partial": 1, "on_arrival": 1},
)


@pytest.fixture(scope="session")
def migrated(database_factory: Callable[[], str]) -> Callable[[], str]:
    from alembic import command

    from deploy.migrations import alembic_config

    def make() -> str:
        url = database_factory()
        command.upgrade(alembic_config(url=url), "head")
        engine = create_engine(url, poolclass=pool.NullPool)
        with engine.begin() as conn:  # what `hotel migrate` does after upgrading
            sync_service_roles(conn, get_settings())
        engine.dispose()
        return url

    return make


@pytest.fixture(scope="session")
def load_url(migrated: Callable[[], str]) -> str:
    url = migrated()
    ensure_seeded(url)
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ShortRun:
    result: Result
    scrape: str  # /metrics text taken in the middle of the run
    metrics: Metrics


@pytest.fixture(scope="session")
def short_run(load_url: str) -> ShortRun:
    metrics = Metrics()
    port = free_port()
    stop_server = metrics.serve(port, addr="127.0.0.1")

    async def main() -> tuple[Result, str]:
        options = Options(url=load_url, rate=120, duration=4, connections=4, mix=EVERYTHING, seed=7)
        task = asyncio.create_task(run(options, Recorder(metrics)))
        await asyncio.sleep(3)
        url = f"http://127.0.0.1:{port}/metrics"
        text = await asyncio.to_thread(lambda: urllib.request.urlopen(url, timeout=5).read())
        return await task, text.decode()

    try:
        result, scrape = asyncio.run(main())
    finally:
        stop_server()
    return ShortRun(result, scrape, metrics)


def run_sync(options: Options, metrics: Metrics | None = None, **kw: Any) -> Result:
    return asyncio.run(run(options, Recorder(metrics or Metrics()), **kw))
