"""`hotel seed` fills the migrated database with realistic, valid data (a progress bar per
table); `hotel adopt` brings the earlier system's rows instead (seeding/adopt/)."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from hotel_models.cli import check_database
from hotel_models.settings import get_settings
from seeding.adopt.cli import adopt_command
from seeding.bulk import LoadResult, is_seeded, load
from seeding.errors import SeedError
from seeding.plan import SCALES, Counts

app = typer.Typer()
app.command("adopt")(adopt_command)
console = Console()


@app.command()
def seed(
    scale: Annotated[
        str, typer.Option(help="tiny (~1k bookings), demo (~50k) or large (1M, ~8M rows).")
    ] = "demo",
    hotels: Annotated[int | None, typer.Option(help="Hotels (overrides the scale).")] = None,
    rooms: Annotated[int | None, typer.Option(help="Rooms (overrides the scale).")] = None,
    users: Annotated[int | None, typer.Option(help="Guests (overrides the scale).")] = None,
    bookings: Annotated[int | None, typer.Option(help="Bookings (overrides the scale).")] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same rows.")] = 0,
    locale: Annotated[
        str | None, typer.Option(help="Faker locale (default HOTEL_SEED_LOCALE).")
    ] = None,
    append: Annotated[bool, typer.Option(help="Add to a database that already has data.")] = False,
    check: Annotated[
        bool, typer.Option("--check", help="Run the business-rule checker afterwards.")
    ] = False,
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Do nothing (exit 0) when there is data already.")
    ] = False,
) -> None:
    """Fill the migrated database with realistic, valid data through COPY (one transaction)."""
    if scale not in SCALES:
        raise SeedError(f"unknown scale {scale!r}: use one of {', '.join(SCALES)}")
    overrides = {"hotels": hotels, "rooms": rooms, "users": users, "bookings": bookings}
    counts = replace(SCALES[scale], **{k: v for k, v in overrides.items() if v is not None})
    url = get_settings().require_database_url()
    if if_empty and is_seeded(url):  # a service's seed at every start: once
        console.print("seed: the database has data already, nothing to do (--if-empty)")
        return
    seed_with_progress(url, counts, seed=seed, locale=locale, append=append)
    if check:
        check_database(url)


def seed_with_progress(
    url: str, counts: Counts, *, seed: int = 0, locale: str | None = None, append: bool = False
) -> LoadResult:
    """Load with a progress bar per table, then print rows and rates per table."""
    expected = {"hotels": counts.hotels, "rooms": counts.rooms, "users": counts.users,
                "bookings": counts.bookings, "partners": counts.partners}  # fmt: skip
    tasks: dict[str, TaskID] = {}
    columns = (
        TextColumn("{task.description:<24}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>10} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:

        def advance(table: str, rows: int, rate: float) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=expected.get(table), rate="")
            bar.advance(tasks[table], rows)
            task = bar.tasks[tasks[table]]
            # Tables without a target count show what is done so far as the total.
            total = expected.get(table, task.completed)
            bar.update(tasks[table], total=max(total, task.completed), rate=f"{rate:,.0f}")

        result = load(
            url,
            counts,
            seed=seed,
            locale=locale or get_settings().seed_locale,
            append=append,
            progress=advance,
        )
    table = Table(title=f"hotel seed (revision {result.revision or 'empty'})")
    for column in ("table", "rows", "seconds", "rows/s"):
        table.add_column(column, justify="left" if column == "table" else "right")
    for stat in result.tables.values():
        table.add_row(
            stat.table, f"{stat.rows:,}", f"{stat.seconds:.2f}", f"{stat.rows_per_second:,.0f}"
        )
    table.add_row(
        "total", f"{result.rows:,}", f"{result.seconds:.2f}",
        f"{result.rows / result.seconds:,.0f}", style="bold",
    )  # fmt: skip
    console.print(table)
    if result.skipped:
        console.print(f"not at this revision (skipped): {', '.join(result.skipped)}")
    return result
