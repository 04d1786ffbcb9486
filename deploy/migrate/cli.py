"""`hotel migrate`: Flyway's verbs over Alembic (migrate, info, validate, repair, baseline) and
the squawk lint."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from deploy.migrate import runner
from deploy.migrate.ledger import RevisionState
from deploy.migrate.lint import lint
from hotel_models.errors import HotelError
from hotel_models.settings import get_settings, migration_target_of

app = typer.Typer()
console = Console()
err_console = Console(stderr=True)


@app.command("migrate")
def migrate_command(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A revision (head, base, 0003...; default HOTEL_MIGRATION_TARGET, head) to "
            "upgrade or downgrade to; or an action: "
            "info (revisions and their state), validate (applied files unchanged, one head), "
            "repair (re-record checksums after a reviewed change), baseline REVISION "
            "(adopt an existing database), lint (squawk over each revision's SQL)."
        ),
    ] = None,
    revision: Annotated[str | None, typer.Argument(help="The revision of `baseline`.")] = None,
    allow_data_loss: Annotated[
        bool,
        typer.Option(help="Let a downgrade drop tables or columns that hold data (back up first)."),
    ] = False,
    upgrade_only: Annotated[
        bool, typer.Option(help="Refuse any downgrade (for services that migrate at start).")
    ] = False,
) -> None:
    """Migrate like Flyway: one migrator at a time, validated first, hooks after."""
    target = target or get_settings().migration_target
    if target == "latest" or (target.isdigit() and len(target) < 4):  # Flyway's forms
        err_console.print(f"{target!r} is Flyway's form: read as {migration_target_of(target)}")
        target = migration_target_of(target)
    if target == "lint":
        findings = lint()
        if findings:
            raise HotelError(f"lint: {len(findings)} finding(s), first: {findings[0]}")
        console.print("[green]lint[/]: every revision passes squawk (or waives with a reason)")
        return
    url = get_settings().require_database_url()
    if target == "info":
        _print_info(runner.info(url))
    elif target == "validate":
        problems = runner.validate(url)
        if problems:
            raise HotelError(f"validate failed: {problems[0]}")
        console.print("[green]valid[/]: applied revisions unchanged, one head")
    elif target == "repair":
        repaired = runner.repair(url)
        console.print(f"[green]repaired[/]: {', '.join(repaired) or 'nothing to repair'}")
    elif target == "baseline":
        if revision is None:
            raise HotelError("baseline needs a revision: hotel migrate baseline 0003")
        recorded = runner.baseline(url, revision)
        console.print(f"[green]baselined[/] at {revision}: recorded {', '.join(recorded)}")
    else:
        if revision is not None:
            raise HotelError(f"unexpected argument {revision!r}: only baseline takes a revision")
        result = runner.migrate(
            url,
            target,
            on_wait=lambda line: err_console.print(line),
            allow_data_loss=allow_data_loss,
            upgrade_only=upgrade_only,
        )
        console.print(
            f"[green]migrated[/]: {result.before or 'empty'} -> {result.after or 'empty'}"
        )
        if result.analyzed:
            console.print(f"analyzed: {', '.join(result.analyzed)}")


def _print_info(states: list[RevisionState]) -> None:
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unrecorded": "red"}
    table = Table(title="migrations")
    for column in ("revision", "description", "state", "applied at", "by", "ms"):
        table.add_column(column)
    for state in states:
        table.add_row(
            state.revision,
            state.description,
            f"[{colours[state.state]}]{state.state}[/]",
            state.applied_at.strftime("%Y-%m-%d %H:%M:%S") if state.applied_at else "",
            state.applied_by,
            "" if state.duration_ms is None else str(state.duration_ms),
        )
    console.print(table)
