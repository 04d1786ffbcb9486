"""Settings of the backups (HOTEL_BACKUP_*): one .env and one prefix with the core settings,
kept beside the code that reads them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotel_models.settings import earlier_settings, environment


class BackupSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOTEL_BACKUP_", env_file=".env", extra="ignore", case_sensitive=False
    )

    target: Literal["local", "compose"] = Field(
        default="local",
        description="Which stack `hotel backup` serves: the local one under HOTEL_STATE_DIR "
        "or the compose one (inside the db_backup container).",
    )
    repo_path: Path | None = Field(
        default=None,
        description="pgBackRest repository of the local stack (pinned at the first "
        "`hotel cluster up`); unset: <state>/cluster/backup-repo.",
    )
    retention_full: int = Field(
        default=2, ge=1, description="Full backups kept (pgBackRest repo1-retention-full)."
    )
    retention_diff: int = Field(
        default=6, ge=1, description="Differential backups kept (repo1-retention-diff)."
    )
    logical_keep: int = Field(
        default=7, ge=1, description="Good logical snapshots kept (newest first)."
    )
    cron: str = Field(
        default="0 1 * * *",
        description="When the physical backup runs: full if the newest full is older than "
        "HOTEL_BACKUP_FULL_EVERY_DAYS, else differential (the earlier BACKUP_INTERVAL_CRON).",
    )
    full_every_days: float = Field(
        default=7, gt=0, description="Age of the newest full backup that makes the next a full."
    )
    logical_cron: str = Field(
        default="30 1 * * *", description="When the logical snapshot (pg_dump) runs."
    )
    verify_cron: str = Field(
        default="0 4 * * *",
        description="When the newest backup is restored into a scratch instance and checked.",
    )
    metrics_port: int = Field(
        default=9191,
        ge=0,
        le=65535,
        description="Port `hotel backup schedule` serves metrics on (local stack: plus its "
        "port offset; 0: no server, textfile only).",
    )


@lru_cache
def get_backup_settings() -> BackupSettings:
    fields = {f"backup_{name}" for name in BackupSettings.model_fields}
    earlier = earlier_settings(environment(), fields)  # BACKUP_INTERVAL_CRON, ...
    values = {k.removeprefix("backup_"): v for k, v in earlier.items()}
    return BackupSettings.model_validate(values)
