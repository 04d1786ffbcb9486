"""The applied-migration ledger (Flyway's schema history), written by alembic/env.py.

Every step, up or down, is recorded in `hotel_schema_history` inside the same transaction as
the step itself, so the ledger cannot claim a step that rolled back. It lives in its own
MetaData: it is bookkeeping, like `alembic_version`, not part of the schema the models build.
"""

from __future__ import annotations

import ast
import getpass
import hashlib
import os
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Identity,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    insert,
)

HISTORY_TABLE = "hotel_schema_history"
DIRECTIONS = ("up", "down", "baseline", "repair")

history_metadata = MetaData()
history = Table(
    HISTORY_TABLE,
    history_metadata,
    Column("id", BigInteger, Identity(), primary_key=True),
    Column("revision", Text, nullable=False),
    Column("direction", Text, nullable=False),
    Column("checksum", Text, nullable=False),
    Column("db_role", Text, nullable=False, server_default=func.current_user()),
    Column("os_user", Text, nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("duration_ms", Integer, nullable=False),
    Column("tool_version", Text, nullable=False),
)


def checksum(path: Path) -> str:
    """sha256 of the revision's syntax tree without docstrings and lint waivers: reformatting,
    comments, documentation and review metadata do not change it; any change to what the
    code does, does."""
    tree = ast.parse(path.read_text())
    tree.body = [node for node in tree.body if not _is_lint_waivers(node)]
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            node.body = body[1:] or [ast.Pass()]
    dumped = ast.dump(tree, annotate_fields=True, include_attributes=False)
    return hashlib.sha256(dumped.encode()).hexdigest()[:16]


def _is_lint_waivers(node: ast.stmt) -> bool:
    targets = (
        node.targets
        if isinstance(node, ast.Assign)
        else [node.target]
        if isinstance(node, ast.AnnAssign)
        else []
    )
    return any(isinstance(t, ast.Name) and t.id == "squawk_waivers" for t in targets)


def tool_version() -> str:
    try:
        ours = version("hotel-platform")
    except PackageNotFoundError:
        ours = "unknown"
    return f"hotel {ours}, alembic {version('alembic')}"


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container without a passwd entry for its uid
        return f"uid {os.getuid()}"


def ensure_table(connection: Connection) -> None:
    history_metadata.create_all(connection, checkfirst=True)


def record(
    connection: Connection, revision: str, direction: str, checksum_: str, duration_ms: int
) -> None:
    connection.execute(
        insert(history).values(
            revision=revision,
            direction=direction,
            checksum=checksum_,
            os_user=os_user(),
            duration_ms=duration_ms,
            tool_version=tool_version(),
        )
    )


def step_recorder() -> Callable[..., None]:
    """An Alembic `on_version_apply` callback. Steps run one after another, so a step's
    duration is the time since the previous step (or the start) ended."""
    last = time.monotonic()

    def on_version_apply(ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        nonlocal last
        now = time.monotonic()
        if step.is_stamp:
            last = now
            return
        script = step.revision_map.get_revision(step.up_revision_id)
        record(
            ctx.connection,
            revision=step.up_revision_id,
            direction="up" if step.is_upgrade else "down",
            checksum_=checksum(Path(script.path)),
            duration_ms=round((now - last) * 1000),
        )
        last = now

    return on_version_apply
