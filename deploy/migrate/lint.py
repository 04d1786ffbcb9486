"""Lint each revision's SQL with squawk, as a reviewer would read it: the offline SQL of that
one revision (`alembic upgrade PREV:REV --sql`), timeouts included.

A finding fails unless the revision waives its rule with a reason:
    squawk_waivers = {"prefer-bigint-over-smallint": "bounded values, CHECKed; keys are bigint"}
A waiver that no longer matches anything is reported too, so waivers cannot go stale.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from deploy.migrate.runner import DEFAULT_SCRIPTS, alembic_config
from hotel_models.errors import HotelError

WAIVERS = "squawk_waivers"


@dataclass(frozen=True)
class Finding:
    revision: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.revision}: {self.rule}: {self.message}"


def squawk_binary() -> str:
    beside_python = Path(sys.executable).parent / "squawk"
    found = shutil.which("squawk") or (str(beside_python) if beside_python.exists() else None)
    if found is None:
        raise HotelError("squawk is not installed: pip install squawk-cli")
    return found


def revision_sql(revision: str, previous: str, script_location: Path) -> str:
    buffer = io.StringIO()
    config = alembic_config(url="postgresql+psycopg://", script_location=script_location)
    config.output_buffer = buffer
    command.upgrade(config, f"{previous}:{revision}", sql=True)
    return buffer.getvalue()


def squawk(sql: str) -> list[dict[str, object]]:
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as handle:
        handle.write(sql)
        handle.flush()
        result = subprocess.run(
            [squawk_binary(), "--reporter", "json", handle.name],
            capture_output=True,
            text=True,
            check=False,
        )
    try:
        findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    except json.JSONDecodeError:
        raise HotelError(
            f"squawk failed: {result.stderr.strip() or result.stdout.strip()}"
        ) from None
    return findings


def lint(script_location: Path = DEFAULT_SCRIPTS) -> list[Finding]:
    """Unwaived findings and stale or unexplained waivers, over every revision."""
    script = ScriptDirectory.from_config(alembic_config(script_location=script_location))
    problems: list[Finding] = []
    previous = "base"
    for rev in reversed(list(script.walk_revisions())):
        waivers: dict[str, str] = getattr(rev.module, WAIVERS, {})
        fired = set()
        for finding in squawk(revision_sql(rev.revision, previous, script_location)):
            rule = str(finding["rule_name"])
            fired.add(rule)
            if rule not in waivers:
                problems.append(Finding(rev.revision, rule, str(finding["message"])))
        for rule, reason in waivers.items():
            if rule not in fired:
                problems.append(
                    Finding(rev.revision, rule, "waived but no longer found: remove it")
                )
            elif not reason.strip():
                problems.append(Finding(rev.revision, rule, "waived without a reason"))
        previous = rev.revision
    return problems
