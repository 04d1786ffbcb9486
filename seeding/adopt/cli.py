"""`hotel adopt --from OLD_DSN`: the earlier system's database into the migrated one."""

from __future__ import annotations

import json
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotel_models.errors import HotelError
from hotel_models.settings import get_settings

console = Console()


def adopt_command(
    source: Annotated[
        str,
        typer.Option(
            "--from",
            help="DSN of the earlier system's database (Flyway V5), read in one snapshot.",
            show_default=False,
        ),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the reconciliation as JSON.")
    ] = False,
) -> None:
    """Adopt the earlier system's database into the migrated database at HOTEL_DATABASE_URL
    (the migrating DSN): every row lands with its old id or goes to adoption_quarantine with
    the rule it broke; one transaction; refuses a target that already holds data."""
    from seeding.adopt.loader import adopt  # the loader's imports: not for every command

    try:
        make_url(source)
    except ArgumentError as exc:
        raise HotelError(f"--from: not a database URL: {exc}") from exc
    target = get_settings().require_database_url()
    progress = None if as_json else (lambda message: console.print(message, highlight=False))
    with nullcontext() if as_json else console.status("adopting"):
        result = adopt(source, target, progress=progress)
    if as_json:
        typer.echo(json.dumps(result.as_json(), indent=2))
        return
    table = Table(title="adoption: earlier table -> landed + quarantined")
    for column in ("earlier table", "rows", "landed", "quarantined", "reasons"):
        table.add_column(
            column, justify="left" if column in ("earlier table", "reasons") else "right"
        )
    for t in result.tables.values():
        reasons = ", ".join(f"{r} {n}" for r, n in sorted(t.reasons.items()))
        table.add_row(t.table, str(t.source), str(t.landed), str(t.quarantined), reasons)
    console.print(table)
    for note, n in result.notes.items():
        console.print(f"note: {n} rows: {note}", highlight=False)
    analysts = ", ".join(result.analysts) or "none"
    console.print(
        f"[green]adopted[/] {result.rows} rows in {result.seconds:.1f} s; every count "
        f"reconciles. Analysts carried NOLOGIN: {analysts} (`hotel roles sync` gives them "
        "passwords). Next: `hotel check`."
    )
