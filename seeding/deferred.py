"""Indexes and constraints built after the data, as pg_restore does, inside the loader's
one transaction (empty database only; `--append` keeps every index and constraint on).

Keeping them on costs a btree insert per row and index, a GiST insert per booking for the
no-overlap exclusion, and a lookup per row and foreign key. Built afterwards, each index
is one sort (btrees in parallel with maintenance workers) and each foreign key one
anti-join over the whole table: the same rules, checked once, in bulk.

What is dropped is read from the catalog first (names and definitions as PostgreSQL prints
them, validity, comments), recreated from exactly that, and read again: if anything
differs the loader raises and the transaction rolls back, so the schema after a seed is the
migrated one by construction, not by convention. The BEFORE ROW INSERT triggers go and
come back the same way: disabled as they are while loading, their mere presence makes COPY
insert row by row instead of in batches (and then FREEZE cannot mark pages all-visible).
Left in place: CHECK and NOT NULL constraints (cheap per row), constraints created NOT
VALID (re-adding them would check rows they never checked), and everything on tables the
loader does not write, except the foreign keys that point at a key it rebuilds.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass

from sqlalchemy import Connection, text

from seeding.errors import SeedError

# Memory for each index build's sort, and what lets btree builds use parallel workers
# (PostgreSQL gives each participant at least 32 MB); the server's, not the loader's.
MAINTENANCE_WORK_MEM = "256MB"

_CONSTRAINTS = """
    SELECT c.conname, c.conrelid::regclass::text, c.contype::text,
           pg_get_constraintdef(c.oid), c.convalidated,
           obj_description(c.oid, 'pg_constraint'),
           CASE WHEN c.contype <> 'f' THEN obj_description(c.conindid, 'pg_class') END,
           CASE WHEN c.contype = 'f' THEN c.confrelid::regclass::text END
    FROM pg_constraint c
    WHERE c.contype IN ('p', 'u', 'x', 'f')
      AND (c.conrelid = ANY(CAST(:tables AS regclass[]))
           OR (c.contype = 'f' AND c.confrelid = ANY(CAST(:tables AS regclass[]))))
    ORDER BY 2, 1"""
# Indexes of those tables that back no constraint, with what pg_get_indexdef leaves out.
_INDEXES = """
    SELECT i.relname, x.indrelid::regclass::text, pg_get_indexdef(x.indexrelid),
           x.indisvalid AND x.indisready AND x.indislive, x.indisclustered, x.indisreplident,
           i.reltablespace <> 0 OR EXISTS (SELECT FROM pg_attribute a
               WHERE a.attrelid = x.indexrelid AND a.attstattarget >= 0),
           obj_description(x.indexrelid, 'pg_class')
    FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
    WHERE x.indrelid = ANY(CAST(:tables AS regclass[]))
      AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = x.indexrelid
                      AND c.conrelid = x.indrelid AND c.contype IN ('p', 'u', 'x'))
    ORDER BY 2, 1"""
# BEFORE ROW triggers on INSERT (tgtype bits: row 1, before 2, insert 4).
_TRIGGERS = """
    SELECT t.tgname, t.tgrelid::regclass::text, pg_get_triggerdef(t.oid),
           obj_description(t.oid, 'pg_trigger')
    FROM pg_trigger t
    WHERE t.tgrelid = ANY(CAST(:tables AS regclass[])) AND NOT t.tgisinternal
      AND t.tgconstraint = 0 AND t.tgtype & 7 = 7
    ORDER BY 2, 1"""


@dataclass(frozen=True)
class Constraint:
    name: str
    table: str
    kind: str  # p, u, x, f
    definition: str  # as pg_get_constraintdef prints it: DEFERRABLE, NOT VALID included
    validated: bool
    comment: str | None
    index_comment: str | None  # on the index that backs a key or exclusion constraint
    references: str | None  # the table a foreign key points at


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    definition: str  # CREATE [UNIQUE] INDEX ... as pg_get_indexdef prints it
    valid: bool
    clustered: bool
    replica_identity: bool
    customised: bool  # own tablespace or per-column statistics target
    comment: str | None


@dataclass(frozen=True)
class Trigger:
    name: str
    table: str
    definition: str  # CREATE TRIGGER ... as pg_get_triggerdef prints it
    comment: str | None


@dataclass(frozen=True)
class Schema:
    """What the loader drops and rebuilds for `tables`, as read from the catalog."""

    tables: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    indexes: tuple[Index, ...]
    triggers: tuple[Trigger, ...]


def read(conn: Connection, tables: list[str] | tuple[str, ...]) -> Schema:
    params = {"tables": list(tables)}
    return Schema(
        tuple(tables),
        tuple(Constraint(*row) for row in conn.execute(text(_CONSTRAINTS), params)),
        tuple(Index(*row) for row in conn.execute(text(_INDEXES), params)),
        tuple(Trigger(*row) for row in conn.execute(text(_TRIGGERS), params)),
    )


def rebuildable(schema: Schema) -> bool:
    """False when something would not come back the same from its definition (a NOT VALID
    constraint, an invalid index, CLUSTER ON, REPLICA IDENTITY USING INDEX, an index's own
    tablespace or statistics target): then the loader keeps everything on."""
    return all(c.validated for c in schema.constraints) and not any(
        not i.valid or i.clustered or i.replica_identity or i.customised for i in schema.indexes
    )


def _ident(conn: Connection, name: str) -> str:
    return str(conn.execute(text("SELECT quote_ident(:n)"), {"n": name}).scalar_one())


def _literal(conn: Connection, value: str) -> str:
    return str(conn.execute(text("SELECT quote_literal(:v)"), {"v": value}).scalar_one())


def drop(conn: Connection, schema: Schema) -> None:
    """Foreign keys first (they depend on the keys' indexes), then keys and indexes, then
    the triggers; and the memory the builds will sort in."""
    conn.execute(text(f"SET LOCAL maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'"))
    for c in sorted(schema.constraints, key=lambda c: c.kind != "f"):
        conn.execute(text(f"ALTER TABLE {c.table} DROP CONSTRAINT {_ident(conn, c.name)}"))
    for i in schema.indexes:
        conn.execute(text(f"DROP INDEX {_ident(conn, i.name)}"))
    for t in schema.triggers:
        conn.execute(text(f"DROP TRIGGER {_ident(conn, t.name)} ON {t.table}"))


def _steps(schema: Schema) -> list[Index | Constraint]:
    """Build order: indexes, keys and exclusions, then foreign keys (they need the keys)."""
    keys = [c for c in schema.constraints if c.kind != "f"]
    return [*schema.indexes, *keys, *(c for c in schema.constraints if c.kind == "f")]


def _build(conn: Connection, step: Index | Constraint) -> None:
    if isinstance(step, Index):
        conn.execute(text(step.definition))
        if step.comment is not None:
            name = _ident(conn, step.name)
            conn.execute(text(f"COMMENT ON INDEX {name} IS {_literal(conn, step.comment)}"))
        return
    name = _ident(conn, step.name)
    conn.execute(text(f"ALTER TABLE {step.table} ADD CONSTRAINT {name} {step.definition}"))
    if step.comment is not None:
        comment = _literal(conn, step.comment)
        conn.execute(text(f"COMMENT ON CONSTRAINT {name} ON {step.table} IS {comment}"))
    if step.index_comment is not None:
        conn.execute(text(f"COMMENT ON INDEX {name} IS {_literal(conn, step.index_comment)}"))


class Builder:
    """Builds what `drop` dropped. `early` builds one index, key or foreign key of tables
    whose rows are all loaded, while the producer still generates the others (the backend
    would otherwise wait for data); `finish` builds the rest, foreign keys last (each validated
    by one query over its table), recreates the triggers, and reads the catalog again: it
    must equal what was dropped, or nothing is committed."""

    def __init__(self, conn: Connection, schema: Schema) -> None:
        self.conn = conn
        self.schema = schema
        self.pending = _steps(schema)

    def early(self, settled: Container[str]) -> str | None:
        """Build the next index or key of a settled table, or a foreign key between settled
        (or untouched) tables once the key it points at is built; its name, or None."""
        for step in self.pending:
            if step.table in settled and self._ready(step, settled):
                _build(self.conn, step)
                self.pending.remove(step)
                return step.name
        return None

    def _ready(self, step: Index | Constraint, settled: Container[str]) -> bool:
        if not isinstance(step, Constraint) or step.kind != "f":
            return True
        target = step.references
        if target not in self.schema.tables:  # a table the loader does not fill
            return True
        return target in settled and not any(
            s.table == target and not (isinstance(s, Constraint) and s.kind == "f")
            for s in self.pending
        )

    def finish(self, progress: Callable[[str], None] | None = None) -> None:
        for step in self.pending:
            _build(self.conn, step)
            if progress is not None:
                progress(step.name)
        self.pending = []
        for t in self.schema.triggers:  # created enabled; the loader enables the others
            self.conn.execute(text(t.definition))
            if t.comment is not None:
                name = _ident(self.conn, t.name)
                comment = _literal(self.conn, t.comment)
                self.conn.execute(text(f"COMMENT ON TRIGGER {name} ON {t.table} IS {comment}"))
        if read(self.conn, self.schema.tables) != self.schema:
            raise SeedError(
                "the rebuilt indexes and constraints differ from the migrated ones "
                "(nothing was written): seed with --append to keep them on"
            )
