"""One real PostgreSQL for the whole session: the embedded server by default,
HOTEL_TEST_DATABASE_URL for an existing one, HOTEL_TEST_BACKEND=docker for a container of
the platform image (tests/docker_server.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

# Settings the migrations read: two analysts, one with a password, one without (NOLOGIN).
os.environ.pop("HOTEL_DATABASE_URL", None)
os.environ["HOTEL_ANALYSTS"] = "ann,bob"
os.environ["HOTEL_ANALYST_PASSWORD_ANN"] = uuid.uuid4().hex
# The service's own login (the load generator connects as hotel_app with it).
os.environ["HOTEL_APP_PASSWORD"] = uuid.uuid4().hex

from deploy.embedded import throwaway_server
from deploy.migrate.runner import alembic_config
from hotel_models.errors import HotelError
from hotel_models.settings import get_settings
from tests.docker_server import throwaway_container

get_settings.cache_clear()
pytest_plugins = ["tests.stack"]  # the local HA stack fixture of the cluster-marked tests


def _docker_server() -> Iterator[str]:
    """A container of the platform image; asked for and impossible is a failure, not a skip."""
    try:
        with throwaway_container() as url:
            yield url
    except HotelError as exc:
        pytest.fail(f"HOTEL_TEST_BACKEND=docker: {exc}")


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A superuser URL to a maintenance database of the test server."""
    if url := os.environ.get("HOTEL_TEST_DATABASE_URL"):
        yield url
        return
    if os.environ.get("HOTEL_TEST_BACKEND") == "docker":
        yield from _docker_server()
        return
    with throwaway_server() as url:
        yield url


@pytest.fixture(scope="session")
def database_factory(server_url: str) -> Iterator[Callable[..., str]]:
    """Creates databases on the test server, empty or copied from `template`; drops them all
    at the end."""
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=pool.NullPool)
    created: list[str] = []

    def create(template: str | None = None) -> str:
        name = f"test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{make_url(template).database}"' if template else ""
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{copy}'))
        created.append(name)
        return make_url(server_url).set(database=name).render_as_string(hide_password=False)

    yield create
    with admin.connect() as conn:
        for name in created:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def empty_url(database_factory: Callable[[], str]) -> str:
    return database_factory()


@pytest.fixture(scope="session")
def head_url(database_factory: Callable[[], str]) -> str:
    """One database migrated to head, shared by the model tests (they roll back)."""
    from alembic import command

    url = database_factory()
    command.upgrade(alembic_config(url=url), "head")
    return url


@pytest.fixture(scope="session")
def head_engine(head_url: str) -> Iterator[Engine]:
    engine = create_engine(head_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(head_engine: Engine) -> Iterator[Session]:
    """A session inside a transaction that is rolled back: commits become savepoints."""
    with head_engine.connect() as conn:
        outer = conn.begin()
        db = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            yield db
        finally:
            db.close()
            outer.rollback()
