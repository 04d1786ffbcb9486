"""The embedded server preloads pg_stat_statements: a new instance, and one initialised
before the setting existed (it gets it at its next start, restarted once if running)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from deploy.embedded import PRELOAD, PRELOAD_KEY, EmbeddedPostgres


def show_preload(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW shared_preload_libraries").fetchone()
    assert row is not None
    return str(row[0])


def started_at(url: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    return row[0]


def preload_lines(server: EmbeddedPostgres) -> list[str]:
    text = (server.data_dir / "postgresql.auto.conf").read_text()
    return [line for line in text.splitlines() if line.startswith(PRELOAD_KEY)]


def forget_preload(server: EmbeddedPostgres) -> None:
    """Make the instance look like one initialised before this setting existed."""
    auto_conf = server.data_dir / "postgresql.auto.conf"
    kept = [line for line in auto_conf.read_text().splitlines() if line != PRELOAD]
    auto_conf.write_text("\n".join(kept) + "\n")


@pytest.fixture
def instance() -> Iterator[EmbeddedPostgres]:
    root = Path(tempfile.mkdtemp(prefix="hotel-pg-test-"))
    root.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    server = EmbeddedPostgres(root / "pg")
    try:
        yield server
    finally:
        server.remove()
        shutil.rmtree(root, ignore_errors=True)


def test_the_test_server_preloads_pg_stat_statements(server_url: str) -> None:
    if os.environ.get("HOTEL_TEST_DATABASE_URL") or os.environ.get("HOTEL_TEST_BACKEND"):
        pytest.skip("an external test server: its configuration is not ours")
    url = server_url.replace("postgresql+psycopg://", "postgresql://")
    assert "pg_stat_statements" in show_preload(url).split(", ")


def test_an_instance_from_before_gets_the_preload_at_its_next_start(
    instance: EmbeddedPostgres,
) -> None:
    instance.init()
    assert preload_lines(instance) == [PRELOAD]
    forget_preload(instance)
    instance.start()  # stopped: the line is added before the server starts
    url = instance.url("postgres", driver="postgresql")
    assert show_preload(url) == "pg_stat_statements"
    assert preload_lines(instance) == [PRELOAD]

    forget_preload(instance)  # a running old instance: `hotel up` restarts it, once
    before = started_at(url)
    instance.start()
    restarted = started_at(url)
    assert restarted != before
    assert show_preload(url) == "pg_stat_statements"
    instance.start()
    assert started_at(url) == restarted, "an instance that has the setting is not restarted"
    assert preload_lines(instance) == [PRELOAD]


def test_an_instance_that_sets_its_own_preload_is_left_alone(
    instance: EmbeddedPostgres,
) -> None:
    from loadtest.statements import NOT_LOADED, StatementsUnavailable, reset, top

    instance.init(settings=[f"{PRELOAD_KEY} = ''"])
    instance.start()
    url = instance.url(driver="postgresql")
    assert show_preload(url) == ""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION pg_stat_statements")  # works without the preload
        assert reset(conn) is False
        with pytest.raises(StatementsUnavailable) as raised:
            top(conn)
        assert str(raised.value) == NOT_LOADED
        assert conn.execute("SELECT 1").fetchone() == (1,), "the connection is still usable"
