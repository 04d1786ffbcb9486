"""The Mermaid ER diagram of docs/erd.md, generated from the models so it cannot go stale."""

from __future__ import annotations

from sqlalchemy import Column, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql

from hotel_models import metadata

HEADER = """# Entity-relationship diagram

Generated from `hotel_models` by `hotel erd`; a test fails when this file is stale.
PK primary key, FK foreign key, UK unique.

```mermaid
erDiagram
"""


def _type(column: Column[object]) -> str:
    """The PostgreSQL type as one Mermaid word: timestamptz, numeric, booking_status..."""
    name = column.type.compile(dialect=postgresql.dialect()).lower()
    name = name.replace("timestamp with time zone", "timestamptz")
    return name.split("(")[0].replace(" ", "_")


def _unique_alone(table: Table, column_name: str) -> bool:
    return any(
        isinstance(c, UniqueConstraint) and [col.name for col in c.columns] == [column_name]
        for c in table.constraints
    )


def _keys(table: Table, column: Column[object]) -> str:
    keys = []
    if column.primary_key:
        keys.append("PK")
    if column.foreign_keys:
        keys.append("FK")
    if _unique_alone(table, column.name):
        keys.append("UK")
    return ",".join(keys)


def render_erd() -> str:
    lines = [HEADER.rstrip("\n")]
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        lines.append(f"    {table.name} {{")
        for column in table.columns:
            keys = _keys(table, column)
            lines.append(f"        {_type(column)} {column.name}{' ' + keys if keys else ''}")
        lines.append("    }")
    for table in sorted(metadata.tables.values(), key=lambda t: t.name):
        for fk in sorted(table.foreign_key_constraints, key=lambda f: str(f.name)):
            parent = fk.referred_table.name
            name = fk.column_keys[0]
            left = "|o" if all(c.nullable for c in fk.columns) else "||"
            right = "o|" if _unique_alone(table, name) else "o{"
            lines.append(f'    {parent} {left}--{right} {table.name} : "{name}"')
    lines.append("```")
    return "\n".join(lines) + "\n"
