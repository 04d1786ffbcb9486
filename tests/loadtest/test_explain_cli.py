"""`hotel explain` end to end: the table, --json, --top, and bad input in one line."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable

from loadtest.statements import reset_at
from tests.helpers import one_line_error, run_hotel


def hotel_explain(url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"HOTEL_DATABASE_URL": url, "COLUMNS": "250"}
    return run_hotel("explain", *args, env=env)


def test_table_of_chosen_statements(load_url: str) -> None:
    result = hotel_explain(load_url, "--query", "booking_by_code", "--samples", "2")
    assert result.returncode == 0, result.stderr
    assert "booking_by_code" in result.stdout
    assert "uq_bookings_code" in result.stdout
    assert "search_availability" not in result.stdout


def test_json_carries_figures_and_plans(load_url: str) -> None:
    result = hotel_explain(
        load_url,
        "--json",
        "--samples",
        "2",
        "--query",
        "search_availability",
        "--query",
        "analytic_booking_status",
    )
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) == {"search_availability", "analytic_booking_status"}
    for row in rows.values():
        assert row["runs"] == 2
        assert row["p95_ms"] >= row["median_ms"] > 0
        assert row["plan"]["Plan"]["Node Type"]


def test_top_lists_the_heaviest_statements(load_url: str) -> None:
    assert reset_at(load_url)  # as a load run starts: what follows is "the last run"
    hotel_explain(load_url, "--query", "analytic_booking_status", "--samples", "3")
    result = hotel_explain(load_url, "--top", "50", "--json")
    assert result.returncode == 0, result.stderr
    top = json.loads(result.stdout)
    assert 0 < len(top["statements"]) <= 50
    queries = [s["query"] for s in top["statements"]]
    assert any("FROM booking_status_rollup GROUP BY status" in q for q in queries)
    table = hotel_explain(load_url, "--top", "3")
    assert "heaviest statements since" in table.stdout


def test_strict_fails_on_a_flag(load_url: str) -> None:
    # Every table counts as big: the revenue report's scans of whole tables are flagged.
    args = ("--query", "revenue_report", "--samples", "1", "--seq-scan-rows", "0")
    line = one_line_error(hotel_explain(load_url, *args, "--strict"))
    assert "flagged: revenue_report" in line
    assert hotel_explain(load_url, *args).returncode == 0


def test_unknown_statement(load_url: str) -> None:
    line = one_line_error(hotel_explain(load_url, "--query", "nope"))
    assert "unknown statement nope" in line
    assert "search_availability" in line  # the known ones are listed


def test_samples_must_be_positive(load_url: str) -> None:
    assert "--samples must be at least 1" in one_line_error(
        hotel_explain(load_url, "--samples", "0")
    )


def test_unmigrated_database(database_factory: Callable[[], str]) -> None:
    assert "not migrated" in one_line_error(hotel_explain(database_factory()))


def test_unreachable_database() -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:9/hotel"
    assert "cannot reach the database" in one_line_error(hotel_explain(url, "--samples", "1"))
    assert "cannot reach the database" in one_line_error(hotel_explain(url, "--top", "3"))
