"""Settings of the backups (HOTEL_BACKUP_*): one .env and one prefix with the core settings,
kept beside the code that reads them."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from hotel_models.errors import HotelError
from hotel_models.settings import earlier_settings, environment

REPO2_CIPHER = "aes-256-cbc"


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
    repo2_path: Path | None = Field(
        default=None,
        description="A second pgBackRest repository, encrypted (aes-256-cbc): every node "
        "archives WAL to it too; `hotel backup create --repo 2` backs up to it. Unset: none.",
    )
    repo2_cipher_pass: SecretStr | None = Field(
        default=None,
        description="The passphrase of repo2 (required with HOTEL_BACKUP_REPO2_PATH; lose it "
        "and repo2 cannot be restored).",
    )
    metrics_port: int = Field(
        default=9191,
        ge=0,
        le=65535,
        description="Port `hotel backup schedule` serves metrics on (local stack: plus its "
        "port offset; 0: no server, textfile only).",
    )

    def repo2_options(self) -> dict[str, Any]:
        """pgbackrest.conf [global] options of repo2 ({} when not configured); the nodes
        (archive-push) and the backup host use the same."""
        if self.repo2_path is None:
            return {}
        if self.repo2_cipher_pass is None or not self.repo2_cipher_pass.get_secret_value():
            raise HotelError(
                "HOTEL_BACKUP_REPO2_PATH is set but HOTEL_BACKUP_REPO2_CIPHER_PASS is not: "
                "repo2 is encrypted, give it a passphrase (e.g. openssl rand -base64 48)"
            )
        return {
            "repo2-path": str(self.repo2_path.resolve()),
            "repo2-cipher-type": REPO2_CIPHER,
            "repo2-cipher-pass": self.repo2_cipher_pass.get_secret_value(),
            "repo2-retention-full": self.retention_full,
            "repo2-retention-diff": self.retention_diff,
        }


@lru_cache
def get_backup_settings() -> BackupSettings:
    fields = {f"backup_{name}" for name in BackupSettings.model_fields}
    earlier = earlier_settings(environment(), fields)  # BACKUP_INTERVAL_CRON, ...
    values = {k.removeprefix("backup_"): v for k, v in earlier.items()}
    return BackupSettings.model_validate(values)
