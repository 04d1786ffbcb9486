"""Loaders that write explicit ids (COPY, replays, the adoption) must move each table's
identity past them, or the service's next insert takes an id already there."""

from __future__ import annotations


def identity_past_max(table: str, column: str = "id", at_least: str | None = None) -> str:
    """SQL setting `table`'s identity sequence to its highest `column` (or `at_least`, an SQL
    expression, when that is higher); on an empty table it does nothing."""
    top = f"greatest(max({column}), {at_least})" if at_least else f"max({column})"
    return (
        f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), {top}) "
        f"FROM {table} HAVING {top} IS NOT NULL"
    )
