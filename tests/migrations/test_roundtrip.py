"""Every revision upgrades, downgrades and upgrades again to the identical catalog, and the
check can fail: deliberately broken downgrades are caught, naming the object."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from deploy.migrate.runner import PROJECT_ROOT
from tests.migrations.roundtrip import revisions_in_order, round_trip_problems


def test_every_revision_round_trips_to_an_identical_catalog(empty_url: str) -> None:
    problems = round_trip_problems(empty_url)
    assert not problems, "\n".join(problems)


def test_round_trip_is_identical_while_another_database_uses_the_roles(
    head_url: str, empty_url: str
) -> None:
    """Roles are cluster-wide: with a database at head holding grants to hotel_app and
    hotel_owner, downgrades keep the roles, and the catalog still compares equal."""
    problems = round_trip_problems(empty_url)
    assert not problems, "\n".join(problems)


def test_the_walk_covers_every_revision() -> None:
    files = sorted(p.name.split("_")[0] for p in (PROJECT_ROOT / "alembic/versions").glob("*.py"))
    assert revisions_in_order() == files


def _history_with(tmp_path: Path, revision_file: str, old: str, new: str) -> Path:
    """A copy of the migration history with one edit in one revision's downgrade."""
    copy = tmp_path / "alembic"
    shutil.copytree(PROJECT_ROOT / "alembic", copy, ignore=shutil.ignore_patterns("__pycache__"))
    path = copy / "versions" / revision_file
    source = path.read_text()
    downgrade_at = source.index("def downgrade()")
    head, tail = source[:downgrade_at], source[downgrade_at:]
    assert old in tail, f"{old!r} not in the downgrade of {revision_file}"
    path.write_text(head + tail.replace(old, new, 1))
    return copy


@pytest.mark.parametrize(
    ("revision_file", "old", "new", "expected"),
    [
        pytest.param(
            "0005_workload_indexes.py",
            "for name in reversed(INDEXES):",
            'for name in [n for n in reversed(INDEXES) if n != "ix_hotels_city"]:',
            r"0005 downgrade: index public\.ix_hotels_city: unexpected",
            id="forgotten-index",
        ),
        pytest.param(
            "0004_analytic_roles.py",
            'op.execute(f"REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {ANALYTIC}")',
            "pass",
            r"0004 downgrade: grant table public\.hotels to analytic: SELECT: unexpected",
            id="forgotten-grant",
        ),
        pytest.param(
            "0009_booking_rules.py",
            'op.execute("DROP FUNCTION bookings_status_history()")',
            "pass",
            r"0009 downgrade: function public\.bookings_status_history\(\): unexpected",
            id="forgotten-function",
        ),
        pytest.param(
            "0006_app_roles.py",
            'op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {APP}")',
            "pass",
            r"0006 downgrade: grant table public\.bookings to hotel_app: INSERT: unexpected",
            id="forgotten-app-grant",
        ),
    ],
)
def test_a_broken_downgrade_is_caught_naming_the_object(
    tmp_path: Path,
    database_factory: Callable[[], str],
    revision_file: str,
    old: str,
    new: str,
    expected: str,
) -> None:
    history = _history_with(tmp_path, revision_file, old, new)
    problems = round_trip_problems(database_factory(), script_location=history)
    assert any(re.search(expected, line) for line in problems), "\n".join(problems)
