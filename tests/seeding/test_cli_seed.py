"""`hotel seed` and `hotel check` as a user runs them: one line on bad input, exit 1, no
traceback, and the database unchanged."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.helpers import assert_one_line_error, table_hashes
from tests.helpers import run_hotel as hotel


@pytest.fixture(scope="module")
def head_db(head_database: Callable[[], str]) -> str:
    return head_database()


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--scale", "huge"], ["unknown scale 'huge'", "tiny, demo, large"]),
        (["--bookings", "0"], ["--bookings must be a positive number"]),
        (["--scale", "tiny", "--users", "-5"], ["--users must be a positive number"]),
        (["--scale", "tiny", "--locale", "xx_YY"], ["unknown locale 'xx_YY'"]),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    head_db: str, args: list[str], fragments: list[str]
) -> None:
    before = table_hashes(head_db)
    result = hotel("seed", *args, env={"HOTEL_DATABASE_URL": head_db})
    assert_one_line_error(result, *fragments)
    assert table_hashes(head_db) == before


def test_an_unmigrated_database_is_refused(empty_url: str) -> None:
    result = hotel("seed", "--scale", "tiny", env={"HOTEL_DATABASE_URL": empty_url})
    assert_one_line_error(result, "not migrated", "hotel migrate")


def test_an_unreachable_database_is_one_line() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/hotel"
    result = hotel("seed", "--scale", "tiny", env={"HOTEL_DATABASE_URL": url})
    assert_one_line_error(result, "database error", "127.0.0.1")
    assert "secret" not in result.stderr


def test_seed_then_check_then_refuse_a_second_seed(head_database: Callable[[], str]) -> None:
    env = {"HOTEL_DATABASE_URL": head_database()}
    result = hotel("seed", "--scale", "tiny", "--seed", "3", "--check", env=env)
    assert result.returncode == 0, result.stderr
    assert "booking_status_history" in result.stdout
    assert "every business rule holds" in result.stdout
    seeded = table_hashes(env["HOTEL_DATABASE_URL"])
    again = hotel("seed", "--scale", "tiny", env=env)
    assert_one_line_error(again, "already has data", "--append")
    assert table_hashes(env["HOTEL_DATABASE_URL"]) == seeded
    more = hotel("seed", "--scale", "tiny", "--seed", "4", "--append", "--locale", "en_US", env=env)
    assert more.returncode == 0, more.stderr
    assert hotel("check", env=env).returncode == 0


def test_check_fails_with_one_line_on_a_violation(head_database: Callable[[], str]) -> None:
    from sqlalchemy import create_engine, pool, text

    url = head_database()
    env = {"HOTEL_DATABASE_URL": url}
    assert hotel("seed", "--scale", "tiny", env=env).returncode == 0
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL session_replication_role = replica"))
        conn.execute(text("UPDATE hotels SET rating = 1 WHERE rating IS NOT NULL"))
    engine.dispose()
    result = hotel("check", env=env)
    assert_one_line_error(result, "check failed", "hotel_rating_not_average")


def test_the_service_role_cannot_seed(head_db: str) -> None:
    """hotel_app may not turn triggers off: refused up front, nothing written."""
    from sqlalchemy import create_engine, pool, text
    from sqlalchemy.engine import make_url

    engine = create_engine(head_db, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("DROP ROLE IF EXISTS seed_app_login"))
        conn.execute(text("CREATE ROLE seed_app_login LOGIN PASSWORD 'app-pw' IN ROLE hotel_app"))
    engine.dispose()
    before = table_hashes(head_db)
    app_url = make_url(head_db).set(username="seed_app_login", password="app-pw")
    url = app_url.render_as_string(hide_password=False)
    try:
        result = hotel("seed", "--scale", "tiny", env={"HOTEL_DATABASE_URL": url})
        assert_one_line_error(result, "needs the migrating DSN")
        assert table_hashes(head_db) == before
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP ROLE seed_app_login"))
        engine.dispose()
