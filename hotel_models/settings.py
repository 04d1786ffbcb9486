"""Every setting of the platform, read from HOTEL_* environment variables or a git-ignored .env.

Secrets (DSNs carry passwords) are SecretStr so they never show up in a repr or a log line,
and none has a usable default: `.env.example` documents them.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from dotenv import dotenv_values
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ANALYST_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class SettingsError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HOTEL_", env_file=".env", extra="ignore", case_sensitive=False
    )

    database_url: SecretStr | None = Field(
        default=None,
        description="Read-write DSN (HAProxy primary port in the cluster). "
        "Unset: the embedded server under HOTEL_STATE_DIR.",
    )
    replica_url: SecretStr | None = Field(
        default=None,
        description="Read-only DSN (HAProxy replica port); unset: reads go to the primary.",
    )
    state_dir: Path = Field(
        default=Path(".hotel"), description="Where the embedded server and local stack keep state."
    )
    analysts: str = Field(
        default="", description="Comma-separated analyst login names, members of role `analytic`."
    )
    analyst_passwords_file: Path | None = Field(
        default=None,
        description="File of `name=password` lines for analysts "
        "(alternative to HOTEL_ANALYST_PASSWORD_<NAME>).",
    )
    migration_lock_timeout: str = Field(
        default="5s",
        pattern=r"^\d+\s*(ms|s|min|h)?$",
        description="lock_timeout of every migration: fail fast instead of queueing traffic.",
    )
    migration_statement_timeout: str = Field(
        default="30min",
        pattern=r"^\d+\s*(ms|s|min|h)?$",
        description="statement_timeout of every migration (0 = none).",
    )
    migration_lock_wait: float = Field(
        default=600.0,
        gt=0,
        description="Seconds `hotel migrate` waits for another running migration.",
    )
    seed_locale: str = Field(default="ru_RU", description="Faker locale of seeded data.")
    load_password: SecretStr | None = Field(
        default=None,
        description="Password of the login `hotel_load` (the compose load generator: SET ROLE "
        "hotel_app / analytic); unset: no such login. Applied by every `hotel migrate`.",
    )
    monitor_password: SecretStr | None = Field(
        default=None,
        description="Password of the login `hotel_monitor` (pg_monitor + analytic: the "
        "exporters); unset: no such login. Applied by every `hotel migrate`.",
    )

    backup_target: Literal["local", "compose"] = Field(
        default="local",
        description="Which stack `hotel backup` serves: the local one under HOTEL_STATE_DIR "
        "or the compose one (inside the db_backup container).",
    )
    backup_repo_path: Path | None = Field(
        default=None,
        description="pgBackRest repository of the local stack (pinned at the first "
        "`hotel cluster up`); unset: <state>/cluster/backup-repo.",
    )
    backup_retention_full: int = Field(
        default=2, ge=1, description="Full backups kept (pgBackRest repo1-retention-full)."
    )
    backup_retention_diff: int = Field(
        default=6, ge=1, description="Differential backups kept (repo1-retention-diff)."
    )
    backup_logical_keep: int = Field(
        default=7, ge=1, description="Good logical snapshots kept (newest first)."
    )
    backup_cron: str = Field(
        default="0 1 * * *",
        description="When the physical backup runs: full if the newest full is older than "
        "HOTEL_BACKUP_FULL_EVERY_DAYS, else differential (the earlier BACKUP_INTERVAL_CRON).",
    )
    backup_full_every_days: float = Field(
        default=7, gt=0, description="Age of the newest full backup that makes the next a full."
    )
    backup_logical_cron: str = Field(
        default="30 1 * * *", description="When the logical snapshot (pg_dump) runs."
    )
    backup_verify_cron: str = Field(
        default="0 4 * * *",
        description="When the newest backup is restored into a scratch instance and checked.",
    )
    backup_metrics_port: int = Field(
        default=9191,
        ge=0,
        le=65535,
        description="Port `hotel backup schedule` serves metrics on (local stack: plus its "
        "port offset; 0: no server, textfile only).",
    )

    @property
    def local_url_file(self) -> Path:
        """Where `hotel up` publishes the DSN of the server it runs (mode 0600)."""
        return self.state_dir / "database.url"

    def resolved_database_url(self) -> str | None:
        """HOTEL_DATABASE_URL, else the DSN of the local server `hotel up` started."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        if self.local_url_file.is_file():
            return self.local_url_file.read_text().strip() or None
        return None

    def analyst_names(self) -> list[str]:
        names = [n.strip().lower() for n in self.analysts.split(",") if n.strip()]
        for name in names:
            if not ANALYST_NAME.match(name):
                raise SettingsError(
                    f"HOTEL_ANALYSTS: {name!r} is not a valid role name "
                    "(use lowercase letters, digits and _, starting with a letter)"
                )
        return sorted(set(names))

    def analyst_password(self, name: str) -> str | None:
        """HOTEL_ANALYST_PASSWORD_<NAME> (environment, then .env), else the passwords file."""
        key = f"HOTEL_ANALYST_PASSWORD_{name.upper()}"
        value = os.environ.get(key) or _dotenv().get(key)
        if value:
            return value
        if self.analyst_passwords_file is not None:
            if not self.analyst_passwords_file.is_file():
                raise SettingsError(
                    f"HOTEL_ANALYST_PASSWORDS_FILE: {self.analyst_passwords_file} does not exist"
                )
            for line in self.analyst_passwords_file.read_text().splitlines():
                user, sep, password = line.partition("=")
                if sep and not line.lstrip().startswith("#") and user.strip().lower() == name:
                    return password.strip() or None
        return None


def _dotenv() -> dict[str, str | None]:
    return dotenv_values(".env") if Path(".env").is_file() else {}


@lru_cache
def get_settings() -> Settings:
    return Settings()
