"""The earlier system's environment variables: read with a deprecation line, or refused."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, pool, text

from hotel_models.settings import SettingsError, earlier_settings
from tests.helpers import one_line_error, run_hotel


@pytest.mark.parametrize(
    ("value", "target"), [("latest", "head"), ("3", "0003"), ("17", "0017"), ("head", "head")]
)
def test_migration_version_is_read_as_the_migration_target(value: str, target: str) -> None:
    assert earlier_settings({"MIGRATION_VERSION": value}) == {"migration_target": target}


def test_settings_with_a_counterpart_are_read_with_one_deprecation_line_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    values = earlier_settings(
        {
            "ANALYST_NAMES": "ann,bob",
            "BACKUP_INTERVAL_CRON": "0 3 * * *",
            "BACKUP_RETENTION_COUNT": "5",
        }
    )
    assert values == {"analysts": "ann,bob", "backup_cron": "0 3 * * *", "backup_logical_keep": "5"}
    lines = [r.getMessage() for r in caplog.records if r.name == "hotel.settings"]
    assert len(lines) == 3
    assert "BACKUP_RETENTION_COUNT is deprecated: read as HOTEL_BACKUP_LOGICAL_KEEP=5" in lines[2]


def test_the_new_name_wins_over_the_earlier_one(caplog: pytest.LogCaptureFixture) -> None:
    assert earlier_settings({"ANALYST_NAMES": "old", "HOTEL_ANALYSTS": "new"}) == {}
    assert "ANALYST_NAMES is deprecated and ignored: HOTEL_ANALYSTS is set" in caplog.text


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"SEED_COUNT": "1000"}, "SEED_COUNT is no longer read: size seeding with `hotel seed"),
        ({"MIGRATION_VERSION": "V3"}, "set HOTEL_MIGRATION_TARGET to head or a revision"),
    ],
)
def test_settings_without_a_counterpart_are_refused_naming_the_new_way(
    environ: dict[str, str | None], message: str
) -> None:
    with pytest.raises(SettingsError, match=message.replace("`", ".")):
        earlier_settings(environ)


def test_hotel_migrate_goes_to_the_earlier_migration_version(empty_url: str) -> None:
    env = {"HOTEL_DATABASE_URL": empty_url, "MIGRATION_VERSION": "3"}
    run = run_hotel("migrate", env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "MIGRATION_VERSION is deprecated: read as HOTEL_MIGRATION_TARGET=0003" in run.stderr
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0003"
    engine.dispose()
    # The compose stack passes MIGRATION_VERSION as the argument: the same forms work there.
    run = run_hotel("migrate", "latest", env={"HOTEL_DATABASE_URL": empty_url}, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "'latest' is Flyway's form: read as head" in run.stderr
    run = run_hotel("migrate", env={**env, "SEED_COUNT": "100"}, timeout=300)
    assert one_line_error(run) == (
        "error: SEED_COUNT is no longer read: size seeding with `hotel seed --scale "
        "tiny|demo|large` or --bookings N (and --hotels, --rooms, --users); then unset SEED_COUNT"
    )
