"""The migration runner: ledger, validate/repair/baseline, the lock, timeouts, lint."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import create_engine, pool, text

import hotel_models
from deploy.migrate import runner as migrations
from deploy.migrate.lint import lint
from deploy.migrate.lock import LOCK_KEY
from deploy.migrate.runner import DEFAULT_SCRIPTS, PROJECT_ROOT
from hotel_models.errors import HotelError
from hotel_models.migration_history import checksum
from tests.helpers import HOTEL, hotel_env
from tests.migrations.roundtrip import revisions_in_order

REVISIONS = revisions_in_order()


def hotel(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    """`hotel ARGS` started in the background (the lock tests run two at once)."""
    return subprocess.Popen(
        [*HOTEL, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=hotel_env(env),
        cwd=PROJECT_ROOT,
    )


def ledger_rows(url: str) -> list[tuple[str, str]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT revision, direction FROM hotel_schema_history ORDER BY id")
        ).all()
    engine.dispose()
    return [(r.revision, r.direction) for r in rows]


def test_two_concurrent_migrations_never_interleave(empty_url: str) -> None:
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    # Autocommit: inside one transaction pg_stat_activity would be a frozen snapshot.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as holder:
        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": LOCK_KEY})
        runs = [hotel("migrate", env={"HOTEL_DATABASE_URL": empty_url}) for _ in range(2)]
        deadline = time.monotonic() + 60
        # Both have tried the lock once and failed (so both said they wait): connected is
        # not enough, a run released before its first try takes the lock without waiting.
        while time.monotonic() < deadline:
            waiting = holder.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'hotel migrate%' AND state = 'idle' "
                    "AND query LIKE '%pg_try_advisory_lock%'"
                )
            ).scalar_one()
            if waiting == 2:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the two migrations never both waited for the lock")
        holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": LOCK_KEY})
    engine.dispose()
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert all("waiting for another migration (pid" in err for _, err in outputs), outputs
    summaries = sorted(out.splitlines()[0] for out, _ in outputs)
    assert summaries == [
        f"migrated: {REVISIONS[-1]} -> {REVISIONS[-1]}",
        f"migrated: empty -> {REVISIONS[-1]}",
    ]
    assert ledger_rows(empty_url) == [(rev, "up") for rev in REVISIONS]


def _copy_history(tmp_path: Path) -> Path:
    copy = tmp_path / "alembic"
    shutil.copytree(DEFAULT_SCRIPTS, copy, ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def test_an_edited_applied_revision_fails_validate_and_repair_accepts_it(
    empty_url: str, tmp_path: Path
) -> None:
    history = _copy_history(tmp_path)
    migrations.migrate(empty_url, "head", script_location=history)
    revision_file = next((history / "versions").glob("0003_*.py"))
    source = revision_file.read_text()

    # Formatting, comments and docstrings are not changes.
    revision_file.write_text('"""Reworded."""\n# a comment\n\n' + source.split('"""', 2)[2])
    assert migrations.validate(empty_url, script_location=history) == []

    revision_file.write_text(
        source.replace(
            "def upgrade() -> None:\n", 'def upgrade() -> None:\n    op.execute("SELECT 1")\n'
        )
    )
    problems = migrations.validate(empty_url, script_location=history)
    assert len(problems) == 1
    assert "revision 0003 changed since it was applied" in problems[0]
    with pytest.raises(HotelError, match="validate failed, nothing migrated: revision 0003"):
        migrations.migrate(empty_url, "head", script_location=history)

    assert migrations.repair(empty_url, script_location=history) == ["0003"]
    assert migrations.validate(empty_url, script_location=history) == []
    assert ledger_rows(empty_url)[-1] == ("0003", "repair")


def test_a_missing_applied_revision_is_named(empty_url: str, tmp_path: Path) -> None:
    history = _copy_history(tmp_path)
    migrations.migrate(empty_url, "head", script_location=history)
    next((history / "versions").glob(f"{REVISIONS[-1]}_*.py")).unlink()
    with pytest.raises(HotelError, match=f"revision {REVISIONS[-1]}, whose file is missing"):
        migrations.validate(empty_url, script_location=history)


def test_checksum_ignores_formatting_only(tmp_path: Path) -> None:
    original = next(DEFAULT_SCRIPTS.glob("versions/0002_*.py"))
    reformatted = tmp_path / "r.py"
    reformatted.write_text(original.read_text().replace("\n\n\n", "\n\n\n\n# note\n"))
    assert checksum(reformatted) == checksum(original)


def test_a_migration_behind_a_held_lock_fails_after_lock_timeout(empty_url: str) -> None:
    migrations.migrate(empty_url, "0002")
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE rooms IN ROW EXCLUSIVE MODE"))  # an open write
        run = hotel(
            "migrate",
            "0003",
            env={"HOTEL_DATABASE_URL": empty_url, "HOTEL_MIGRATION_LOCK_TIMEOUT": "1s"},
        )
        _, err = run.communicate(timeout=120)
        blocker.rollback()
    engine.dispose()
    assert run.returncode == 1
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert "waited more than lock_timeout (1s)" in err
    assert "stays at 0002" in err
    assert migrations.current_revision(empty_url) == "0002"
    with create_engine(empty_url, poolclass=pool.NullPool).connect() as conn:
        assert conn.execute(text("SELECT to_regclass('bookings')")).scalar_one() is None


def test_info_follows_an_up_and_down_walk(empty_url: str) -> None:
    walk = [*REVISIONS, *reversed(REVISIONS[:-1]), "base"]
    for target in walk:
        migrations.migrate(empty_url, target)
        applied = [] if target == "base" else REVISIONS[: REVISIONS.index(target) + 1]
        states = {s.revision: s.state for s in migrations.info(empty_url)}
        assert states == {rev: "applied" if rev in applied else "pending" for rev in REVISIONS}, (
            f"at {target}"
        )
    downs = [rev for rev, direction in ledger_rows(empty_url) if direction == "down"]
    assert downs == list(reversed(REVISIONS))


def test_baseline_adopts_an_existing_database(database_factory: Callable[[], str]) -> None:
    url = database_factory()
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        hotel_models.metadata.create_all(conn)
    engine.dispose()
    recorded = migrations.baseline(url, "head")
    assert recorded == REVISIONS
    assert migrations.current_revision(url) == REVISIONS[-1]
    assert {s.state for s in migrations.info(url)} == {"applied"}
    with pytest.raises(HotelError, match="already at revision"):
        migrations.baseline(url, "0001")


def test_every_revision_passes_squawk_or_waives_with_a_reason() -> None:
    findings = lint()
    assert not findings, "\n".join(map(str, findings))


def test_an_unwaived_finding_fails_lint(tmp_path: Path) -> None:
    history = _copy_history(tmp_path)
    revision_file = next((history / "versions").glob("0003_*.py"))
    source = revision_file.read_text()
    revision_file.write_text(source.replace("squawk_waivers = {", "unused_waivers = {", 1))
    findings = [str(f) for f in lint(history)]
    assert any(f.startswith("0003: prefer-bigint-over-smallint") for f in findings), findings


def _a_partner_type(url: str) -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO partner_types (code, name) VALUES ('guard', 'Guard')"))
    engine.dispose()


def _partner_types(url: str) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        count = conn.execute(text("SELECT count(*) FROM partner_types")).scalar_one()
    engine.dispose()
    return int(count)


def test_a_downgrade_that_would_drop_rows_is_refused(empty_url: str) -> None:
    """`hotel migrate base` on a database with data, the attack of a stale MIGRATION_VERSION:
    refused in one line naming what would go, nothing dropped; --allow-data-loss proceeds."""
    migrations.migrate(empty_url, "head")
    _a_partner_type(empty_url)
    result = hotel("migrate", "base", env={"HOTEL_DATABASE_URL": empty_url})
    _, err = result.communicate(timeout=180)
    assert result.returncode == 1, err
    assert len(err.strip().splitlines()) == 1, err
    assert "would drop data: " in err
    assert "table partner_types (1 rows)" in err
    assert "--allow-data-loss" in err
    assert migrations.current_revision(empty_url) == REVISIONS[-1]
    assert _partner_types(empty_url) >= 1
    migrations.migrate(empty_url, "base", allow_data_loss=True)
    assert migrations.current_revision(empty_url) is None


def test_a_downgrade_of_reference_data_only_needs_no_flag(empty_url: str) -> None:
    """What the revisions insert themselves is not the users' data."""
    migrations.migrate(empty_url, "head")
    migrations.migrate(empty_url, "base")
    assert migrations.current_revision(empty_url) is None


def test_upgrade_only_refuses_every_downgrade(empty_url: str) -> None:
    migrations.migrate(empty_url, "head")
    with pytest.raises(HotelError, match="only upgrades"):
        migrations.migrate(empty_url, REVISIONS[1], upgrade_only=True)
    assert migrations.current_revision(empty_url) == REVISIONS[-1]
