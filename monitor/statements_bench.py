"""What one read of the heaviest statements costs the server, with and without the texts:
`python -m monitor.statements_bench --url postgresql://...` (a superuser: it resets
pg_stat_statements, then fills it with distinct statements of about `--chars` characters).

The db exporter reads the counters every scrape with `pg_stat_statements(false)` and the
texts only for statements new to its top; a reader that selects from the view (the view is
`pg_stat_statements(true)`) or postgres_exporter's statements collector loads the whole text
file at every scrape. Figures are indicative: printed with the load average of the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import psycopg

from monitor.node_stats import COUNTERS, TOP

WITH_TEXTS = COUNTERS.replace("pg_stat_statements(false)", "pg_stat_statements(true)")
VIEW = (
    "SELECT queryid, calls, total_exec_time, rows, query FROM public.pg_stat_statements"
    " ORDER BY total_exec_time DESC LIMIT %s"
)


def fill(conn: psycopg.Connection, count: int, chars: int) -> None:
    """`count` distinct normalised statements (the shape differs), padded by a comment."""
    conn.execute("SELECT public.pg_stat_statements_reset()")
    for i in range(count):
        column = "+".join(["1"] * (i % 50 + 1))
        body = f"SELECT {', '.join([column] * (i // 50 + 1))}"
        conn.execute(f"{body} /* {'x' * max(0, chars - len(body) - 6)} */")


def timed(conn: psycopg.Connection, query: str, samples: int) -> float:
    """Median milliseconds of one read, fetched whole."""
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        conn.execute(query, [TOP]).fetchall()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True, help="libpq URL of a superuser, database hotel")
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    with psycopg.connect(args.url, autocommit=True) as conn:
        fill(conn, args.statements, args.chars)
        (entries,) = conn.execute("SELECT count(*) FROM public.pg_stat_statements").fetchone() or (
            0,
        )
        counters = timed(conn, COUNTERS, args.samples)
        texts = timed(conn, WITH_TEXTS, args.samples)
        view = timed(conn, VIEW, args.samples)
    load = os.getloadavg()
    print(f"{entries} statements of ~{args.chars} chars, top {TOP}, median of {args.samples}")
    print(f"  counters only, pg_stat_statements(false): {counters:8.2f} ms")
    print(f"  same with texts, pg_stat_statements(true): {texts:8.2f} ms ({texts / counters:.1f}x)")
    print(f"  the view with texts (ORDER BY, LIMIT):     {view:8.2f} ms ({view / counters:.1f}x)")
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} (indicative)")


if __name__ == "__main__":
    main()
