"""`hotel explain`: every catalogued statement planned and run with EXPLAIN (ANALYZE,
BUFFERS) over a sample of parameters, with what a DBA looks for flagged.

Runs as the load generator does: the statement's role (`hotel_app`, or `analytic` for the
reports), `jit=off`, one untimed warm-up run first (the service's cache is warm), writes in
a transaction that is rolled back. Timing is EXPLAIN's own execution time with per-node
timing off (TIMING OFF: row counts and buffers stay exact, the clock overhead per row goes).
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from hotel_models.settings import libpq_url
from loadtest.catalogue import CATALOGUE, Query, Sample, sample
from loadtest.db import LoadError, unreachable

SCAN_KINDS = {
    "Seq Scan": "seq",
    "Index Scan": "index",
    "Index Only Scan": "index-only",
    "Bitmap Heap Scan": "bitmap",
}
MISESTIMATE = 10.0  # estimated vs actual rows, either way...
MISESTIMATE_ROWS = 100  # ...on a node that handles this many (1 row for 12 changes no plan)


@dataclass(frozen=True)
class Scan:
    table: str
    kind: str  # seq, index, index-only, bitmap
    index: str | None

    def __str__(self) -> str:
        return f"{self.table} {self.kind}" + (f" {self.index}" if self.index else "")


@dataclass
class Explained:
    name: str
    operation: str
    runs: int = 0
    refused: int = 0  # samples a business rule refused (a conflict, as in the load)
    median_ms: float = 0.0
    p95_ms: float = 0.0
    planning_ms: float = 0.0
    rows: int = 0
    shape: list[str] = field(default_factory=list)  # the most common plan's scans
    indexes: list[str] = field(default_factory=list)  # every index any sampled plan used
    shared_hit: int = 0  # per run, median
    shared_read: int = 0
    flags: list[str] = field(default_factory=list)
    plan: dict[str, Any] = field(default_factory=dict)  # the slowest sampled plan


def scans(plan: dict[str, Any]) -> Iterator[Scan]:
    """Every table access of a plan tree, in plan order (a bitmap scan once, with its
    index or indexes)."""
    kind = SCAN_KINDS.get(plan["Node Type"])
    if kind is not None:
        index = plan.get("Index Name")
        if kind == "bitmap":
            index = ",".join(sorted(set(_bitmap_indexes(plan)))) or None
        yield Scan(plan["Relation Name"], kind, index)
    for child in plan.get("Plans", []):
        if plan["Node Type"] == "Bitmap Heap Scan":
            continue  # its bitmap index scans are named above
        yield from scans(child)


def _bitmap_indexes(plan: dict[str, Any]) -> Iterator[str]:
    for child in plan.get("Plans", []):
        if child["Node Type"] == "Bitmap Index Scan":
            yield child["Index Name"]
        yield from _bitmap_indexes(child)


def worst_estimate(plan: dict[str, Any], under_limit: bool = False) -> tuple[float, str] | None:
    """The node whose row estimate is furthest from what it returned (per loop), as
    (factor, description). A node under a Limit that returned fewer rows than estimated
    was stopped early, not misjudged; nodes never executed, and nodes where both figures
    are small, are skipped."""
    worst: tuple[float, str] | None = None
    if plan.get("Actual Loops", 0) > 0:
        estimated, actual = float(plan["Plan Rows"]), float(plan["Actual Rows"])
        stopped_early = under_limit and actual < estimated
        if not stopped_early and max(estimated, actual) >= MISESTIMATE_ROWS:
            factor = max(estimated, actual, 1.0) / max(min(estimated, actual), 1.0)
            where = plan["Node Type"] + (
                f" on {plan['Relation Name']}" if "Relation Name" in plan else ""
            )
            worst = (factor, f"{where}: estimated {estimated:.0f} rows, got {actual:.0f}")
    limit = under_limit or plan["Node Type"] == "Limit"
    for child in plan.get("Plans", []):
        found = worst_estimate(child, limit)
        if found is not None and (worst is None or found[0] > worst[0]):
            worst = found
    return worst


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def _explain_once(
    conn: psycopg.Connection, statement: Query, params: dict[str, Any]
) -> dict[str, Any] | None:
    """One EXPLAIN ANALYZE in its own transaction, always rolled back; None when a
    business rule refused it."""
    explain = "EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) " + statement.sql
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(sql.SQL("SET LOCAL ROLE {}").format(sql.Identifier(statement.role)))
            row = conn.execute(explain, params).fetchone()
    except psycopg.errors.IntegrityError:
        return None
    assert row is not None
    result: dict[str, Any] = row[0][0]
    return result


def explain_statement(
    conn: psycopg.Connection,
    statement: Query,
    data: Sample,
    *,
    samples: int,
    big_tables: dict[str, int],
    seed: int = 0,
) -> Explained:
    rng = random.Random(f"{seed}:{statement.name}")
    out = Explained(statement.name, statement.operation)
    try:
        draws = [statement.params(data, rng) for _ in range(samples + 1)]
    except IndexError:  # nothing of that kind in the data (say, no pending booking)
        out.flags.append("no sample: the data has nothing this statement works on")
        return out
    results = [_explain_once(conn, statement, params) for params in draws]
    timed = [r for r in results[1:] if r is not None]  # the first run warms the cache
    out.refused = len(results) - 1 - len(timed)
    out.runs = len(timed)
    if not timed:
        out.flags.append("every sample was refused by a business rule")
        return out
    times = [r["Execution Time"] for r in timed]
    out.median_ms = statistics.median(times)
    out.p95_ms = _percentile(times, 0.95)
    out.planning_ms = statistics.median(r["Planning Time"] for r in timed)
    out.rows = int(statistics.median(r["Plan"]["Actual Rows"] for r in timed))
    out.shared_hit = int(statistics.median(r["Plan"].get("Shared Hit Blocks", 0) for r in timed))
    out.shared_read = int(statistics.median(r["Plan"].get("Shared Read Blocks", 0) for r in timed))
    shapes = Counter(tuple(str(s) for s in scans(r["Plan"])) for r in timed)
    out.shape = list(shapes.most_common(1)[0][0])
    all_scans = {s for r in timed for s in scans(r["Plan"])}
    out.indexes = sorted({name for s in all_scans if s.index for name in s.index.split(",")})
    for s in sorted(all_scans, key=str):
        if s.kind == "seq" and big_tables.get(s.table, 0) > 0 and s.table not in statement.whole:
            out.flags.append(f"seq scan on {s.table} ({big_tables[s.table]:,} rows)")
    estimates = [e for e in (worst_estimate(r["Plan"]) for r in timed) if e is not None]
    if estimates:
        factor, where = max(estimates)
        if factor > MISESTIMATE:
            out.flags.append(f"estimate off {factor:.0f}x at {where}")
    out.plan = max(timed, key=lambda r: r["Execution Time"])
    return out


def table_sizes(conn: psycopg.Connection, min_rows: int) -> dict[str, int]:
    """Tables of the public schema with more than `min_rows` rows (planner statistics)."""
    rows = conn.execute(
        "SELECT relname, reltuples::bigint FROM pg_class "
        "WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND reltuples > %s",
        [min_rows],
    ).fetchall()
    return dict(rows)


def explain(
    url: str,
    statements: Iterable[Query] = CATALOGUE,
    *,
    samples: int = 20,
    seq_scan_rows: int = 10_000,
    seed: int = 0,
    data: Sample | None = None,
) -> list[Explained]:
    """Explain the catalogue on a seeded database (the DSN may SET ROLE to hotel_app and
    analytic: the owner's or a superuser's). Pass `data` to draw the same parameters
    again (before/after comparisons)."""
    if samples < 1:
        raise LoadError("--samples must be at least 1")
    try:
        with psycopg.connect(libpq_url(url), options="-c jit=off", autocommit=True) as conn:
            if conn.execute("SELECT to_regclass('public.bookings')").fetchone() == (None,):
                raise LoadError("the database is not migrated: run `hotel migrate head` first")
            data = data or sample(url, seed)
            big = table_sizes(conn, seq_scan_rows)
            return [
                explain_statement(conn, s, data, samples=samples, big_tables=big, seed=seed)
                for s in statements
            ]
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None


def as_json(results: list[Explained], with_plans: bool = False) -> list[dict[str, Any]]:
    rows = [asdict(r) for r in results]
    if not with_plans:
        for row in rows:
            row.pop("plan")
    return rows
