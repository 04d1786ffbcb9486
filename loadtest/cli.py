"""`hotel load` and `hotel explain`: the simulated users, and the query catalogue they run
under EXPLAIN.

The runner, the catalogue and the explainer are imported in the commands: with
prometheus_client they cost about 0.3 s, which every other `hotel` command would pay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hotel_models.errors import HotelError
from hotel_models.settings import get_settings

app = typer.Typer()
console = Console()


@app.command()
def load(
    rate: Annotated[
        float | None,
        typer.Option(help="Open loop: journey arrivals per second (Poisson). Default 50."),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds of arrivals; omitted: until stopped (service). Then --drain."),
    ] = None,
    drain: Annotated[
        float,
        typer.Option(help="Seconds journeys in flight get to finish after arrivals stop."),
    ] = 5.0,
    users: Annotated[
        int | None,
        typer.Option(help="Without --rate: closed loop with N users; with it: in-flight limit."),
    ] = None,
    mix: Annotated[
        Path | None, typer.Option(help="Workload mix TOML (default loadtest/default_mix.toml).")
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help="Write report.json and report.html into this directory.")
    ] = None,
    metrics_port: Annotated[
        int,
        typer.Option(
            help="Serve Prometheus metrics on this port (0: do not serve), on "
            "HOTEL_LOAD_METRICS_ADDRESS (127.0.0.1)."
        ),
    ] = 8000,
    connections: Annotated[int, typer.Option(help="Connections per DSN.")] = 8,
    wait_seeded: Annotated[
        float,
        typer.Option(help="Wait up to N s for a migrated, seeded database (compose: beside seed)."),
    ] = 0,
) -> None:
    """Simulated guests, partners and analysts against the database (writes to
    HOTEL_DATABASE_URL, reads to HOTEL_REPLICA_URL when set), with Prometheus metrics."""
    from loadtest.db import wait_for_data
    from loadtest.runner import Options
    from loadtest.service import main as load_main

    settings = get_settings()
    replica = settings.replica_url.get_secret_value() if settings.replica_url else None
    if rate is None and users is None:
        rate = 50.0
    options = Options(
        url=settings.require_database_url(),
        replica_url=replica,
        rate=rate,
        users=users,
        duration=duration,
        drain=drain,
        connections=connections,
    )
    if wait_seeded > 0:
        wait_for_data(options.url, wait_seeded, console.print)
    load_main(options, mix, report, metrics_port or None, console, settings.load_metrics_address)


@app.command()
def explain(
    samples: Annotated[int, typer.Option(help="Parameter draws per statement.")] = 20,
    query: Annotated[
        list[str] | None, typer.Option(help="Only this catalogued statement (repeatable).")
    ] = None,
    seq_scan_rows: Annotated[
        int, typer.Option(help="Flag a sequential scan of a table with more rows than this.")
    ] = 10_000,
    as_json: Annotated[
        bool, typer.Option("--json", help="JSON (with the plans) for machines.")
    ] = False,
    top: Annotated[
        int | None,
        typer.Option(help="Instead: the N heaviest statements of the last load run."),
    ] = None,
    strict: Annotated[bool, typer.Option(help="Exit 1 when anything is flagged.")] = False,
) -> None:
    """The query catalogue under EXPLAIN (ANALYZE, BUFFERS) on the seeded database: time,
    rows, plan shape and buffers per statement, with big sequential scans and estimates off
    by more than 10x flagged; or, with --top, pg_stat_statements since the last load run."""
    from loadtest.catalogue import BY_NAME, CATALOGUE
    from loadtest.explain import as_json as results_json
    from loadtest.explain import explain as run_explain

    url = get_settings().require_database_url()
    if top is not None:
        _print_top(url, top, as_json)
        return
    unknown = sorted(set(query or ()) - BY_NAME.keys())
    if unknown:
        raise HotelError(f"unknown statement {', '.join(unknown)}: known are {', '.join(BY_NAME)}")
    chosen = [BY_NAME[name] for name in query] if query else list(CATALOGUE)
    with console.status("explaining the catalogue"):
        results = run_explain(url, chosen, samples=samples, seq_scan_rows=seq_scan_rows)
    if as_json:
        print(json.dumps(results_json(results, with_plans=True), indent=2, default=str))
    else:
        table = Table(title=f"hotel explain ({samples} samples each; times are execution ms)")
        for column in ("statement", "median", "p95", "rows", "plan", "hit", "read", "flags"):
            numeric = column in ("median", "p95", "rows", "hit", "read")
            table.add_column(column, justify="right" if numeric else "left", overflow="fold")
        for r in results:
            table.add_row(
                r.name,
                f"{r.median_ms:.2f}",
                f"{r.p95_ms:.2f}",
                str(r.rows),
                "\n".join(r.shape),
                str(r.shared_hit),
                str(r.shared_read),
                "[yellow]" + "\n".join(r.flags) + "[/]" if r.flags else "",
            )
        console.print(table)
    flagged = [r.name for r in results if r.flags]
    if strict and flagged:
        raise HotelError(f"flagged: {', '.join(flagged)}")


def _print_top(url: str, limit: int, as_json: bool) -> None:
    from loadtest.statements import top_at

    result = top_at(url, limit)
    if as_json:
        found = {
            "since": result.since.isoformat(),
            "total_ms": result.total_ms,
            "statements": [vars(s) for s in result.statements],
        }
        print(json.dumps(found, indent=2))
        return
    table = Table(
        title=f"heaviest statements since {result.since:%Y-%m-%d %H:%M:%S %Z} "
        f"({result.total_ms / 1000:.1f} s of execution in all)"
    )
    for column in ("share", "total ms", "calls", "mean ms", "rows", "hit", "read", "statement"):
        table.add_column(
            column, justify="left" if column == "statement" else "right", overflow="fold"
        )
    for s in result.statements:
        table.add_row(
            f"{s.share:.0%}",
            f"{s.total_ms:.0f}",
            str(s.calls),
            f"{s.mean_ms:.2f}",
            str(s.rows),
            str(s.shared_blks_hit),
            str(s.shared_blks_read),
            s.query[:300],
        )
    console.print(table)
