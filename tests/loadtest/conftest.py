"""A migrated database with the load fixture, and one short run shared by the tests that
only read its figures (journeys, metrics, books, report): one run keeps the suite fast."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable

import pytest
from alembic import command
from sqlalchemy import create_engine, pool

from deploy.migrate.runner import alembic_config
from deploy.process import free_port
from hotel_models.roles import sync_service_roles
from hotel_models.settings import get_settings
from loadtest.metrics import Metrics
from loadtest.runner import Options, Result, run
from loadtest.stats import Recorder
from seeding.bulk import seed_if_empty
from tests.loadtest.runs import EVERYTHING, ShortRun


@pytest.fixture(scope="session")
def migrated(database_factory: Callable[[], str]) -> Callable[[], str]:
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
    seed_if_empty(url)
    return url


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
