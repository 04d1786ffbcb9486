"""`hotel check`, `hotel erd` and `hotel roles`: the schema's own commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import create_engine, pool

from hotel_models.checker import check
from hotel_models.erd import render_erd
from hotel_models.errors import HotelError
from hotel_models.roles import sync_analysts, sync_service_roles
from hotel_models.settings import get_settings

app = typer.Typer()
roles_app = typer.Typer(help="Database roles of the platform.", no_args_is_help=True)
app.add_typer(roles_app, name="roles")
console = Console()


@app.command("check")
def check_command() -> None:
    """Check every business rule over the whole database (e.g. after a seed or a restore)."""
    check_database(get_settings().require_database_url())


def check_database(url: str) -> None:
    """Print every violation (the first 50) and fail with their count, or say all rules hold."""
    engine = create_engine(url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            violations = check(conn)
    finally:
        engine.dispose()
    if violations:
        for violation in violations[:50]:
            console.print(str(violation), highlight=False)
        raise HotelError(f"check failed: {len(violations)} violation(s), first: {violations[0]}")
    console.print("[green]check[/]: every business rule holds")


@app.command()
def erd(
    output: Annotated[Path, typer.Option(help="Where to write the diagram.")] = Path("docs/erd.md"),
) -> None:
    """Write the Mermaid ER diagram generated from the models."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_erd())
    console.print(f"[green]wrote[/] {output}")


@roles_app.command("sync")
def roles_sync() -> None:
    """Reconcile analyst logins with HOTEL_ANALYSTS and their passwords, and hotel_app's
    password with HOTEL_APP_PASSWORD (idempotent)."""
    settings = get_settings()
    engine = create_engine(settings.require_database_url(), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            sync_analysts(conn, settings)
            services = sync_service_roles(conn, settings)
    finally:
        engine.dispose()
    # The statements carry password verifiers: report names only.
    names = ", ".join(settings.analyst_names()) or "none"
    passwords = ", ".join(services) or "none (HOTEL_APP_PASSWORD unset)"
    console.print(f"[green]roles synced[/]: analysts {names}; service passwords: {passwords}")
