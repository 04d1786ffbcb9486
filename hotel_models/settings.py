"""The core settings of the platform, read from HOTEL_* environment variables or a git-ignored
.env: the database, the state directory, analysts, migrations, seeding. Settings of one concern
live beside its code in the same style (deploy/backup/settings.py: HOTEL_BACKUP_*).

Secrets (DSNs carry passwords) are SecretStr so they never show up in a repr or a log line,
and none has a usable default: `.env.example` documents them.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Container
from functools import lru_cache
from pathlib import Path

from dotenv import dotenv_values
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hotel_models.errors import HotelError

ANALYST_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
log = logging.getLogger("hotel.settings")

# Roles of the platform and PostgreSQL's own: an analyst of that name would be altered by
# `hotel roles sync` (set NOLOGIN, given a password, granted `analytic`).
RESERVED_ROLES = frozenset(
    {"postgres", "hotel_app", "hotel_owner", "analytic", "replicator", "public", "none"}
)


class SettingsError(HotelError, ValueError):
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
    app_password: SecretStr | None = Field(
        default=None,
        description="Password of hotel_app, the service's login (set by `hotel roles sync` "
        "and after every migration); unset: <state>/app.password when `hotel up` made one.",
    )
    analysts: str = Field(
        default="", description="Comma-separated analyst login names, members of role `analytic`."
    )
    analyst_passwords_file: Path | None = Field(
        default=None,
        description="File of `name=password` lines for analysts "
        "(alternative to HOTEL_ANALYST_PASSWORD_<NAME>).",
    )
    analyst_statement_timeout: str = Field(
        default="5min",
        pattern=r"^\d+\s*(ms|s|min|h)?$",
        description="statement_timeout of every analyst login (a runaway report ends).",
    )
    analyst_connection_limit: int = Field(
        default=5,
        ge=1,
        description="Connections each analyst login may hold at once (CONNECTION LIMIT).",
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
    migration_target: str = Field(
        default="head",
        description="Revision `hotel migrate` goes to when none is given (head, 0003, ...; "
        "the earlier MIGRATION_VERSION).",
    )
    migration_lock_wait: float = Field(
        default=600.0,
        gt=0,
        description="Seconds `hotel migrate` waits for another running migration.",
    )
    seed_locale: str = Field(default="ru_RU", description="Faker locale of seeded data.")
    seed_lock_timeout: str = Field(
        default="5s",
        pattern=r"^\d+\s*(ms|s|min|h)?$",
        description="lock_timeout of `hotel seed`: it locks every table it loads, so it fails "
        "fast instead of queueing behind (and in front of) a live service.",
    )
    cluster_port_offset: int = Field(
        default=0,
        ge=0,
        description="Local HA stack (`hotel up --ha`, `hotel cluster up`): added to every port "
        "it and its monitoring listen on, fixed at its first start; every port must stay "
        "below the kernel's ephemeral range (32768 by default).",
    )
    replica_max_lag: str = Field(
        default="16MB",
        pattern=r"^\d+\s*(B|kB|MB|GB)?$",
        description="HA stack: a replica further behind the leader than this (bytes of WAL "
        "not replayed) is taken out of the read port until it catches up.",
    )
    load_metrics_address: str = Field(
        default="127.0.0.1",
        description="Where `hotel load` serves /metrics: this machine only unless opened "
        "(0.0.0.0 in the compose `load` container, for Prometheus).",
    )
    monitor_password: SecretStr | None = Field(
        default=None,
        description="Password of the login `hotel_monitor` (pg_monitor + analytic: the "
        "exporters); unset: `hotel migrate` leaves the login as it is (the local stack "
        "generates its own).",
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

    def require_database_url(self) -> str:
        """The DSN every command works on, or one line saying how to get one."""
        url = self.resolved_database_url()
        if url is None:
            raise SettingsError(
                "no database: set HOTEL_DATABASE_URL, or run `hotel up` to start the local server"
            )
        try:
            make_url(url)
        except ArgumentError:
            raise SettingsError(
                "HOTEL_DATABASE_URL is not a valid URL: expected "
                "postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE"
            ) from None
        return url

    @property
    def app_password_file(self) -> Path:
        """Where `hotel up` keeps the hotel_app password it generated (mode 0600)."""
        return self.state_dir / "app.password"

    def resolved_app_password(self) -> str | None:
        """HOTEL_APP_PASSWORD, else the one `hotel up` generated, else None."""
        if self.app_password is not None:
            return self.app_password.get_secret_value() or None
        if self.app_password_file.is_file():
            return self.app_password_file.read_text().strip() or None
        return None

    def analyst_names(self) -> list[str]:
        names = [n.strip().lower() for n in self.analysts.split(",") if n.strip()]
        for name in names:
            if not ANALYST_NAME.match(name):
                raise SettingsError(
                    f"HOTEL_ANALYSTS: {name!r} is not a valid role name "
                    "(use lowercase letters, digits and _, starting with a letter)"
                )
            if name in RESERVED_ROLES or name.startswith("pg_"):
                raise SettingsError(
                    f"HOTEL_ANALYSTS: {name!r} is a reserved role name (a role of the platform "
                    "or of PostgreSQL), not an analyst login; choose another name"
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


# The earlier system's variables: read with one deprecation line each when their HOTEL_
# counterpart is unset, refused with the new way where there is none.
EARLIER_SETTINGS = {
    "MIGRATION_VERSION": "migration_target",
    "ANALYST_NAMES": "analysts",
    "BACKUP_INTERVAL_CRON": "backup_cron",
    "BACKUP_RETENTION_COUNT": "backup_logical_keep",
}
EARLIER_REFUSED = {
    "SEED_COUNT": "size seeding with `hotel seed --scale tiny|demo|large` or --bookings N "
    "(and --hotels, --rooms, --users)",
}


def migration_target_of(value: str) -> str:
    """latest -> head, 3 -> 0003 (Flyway's versions were plain numbers)."""
    if value.lower() == "latest":
        return "head"
    if value.isdigit():
        return f"{int(value):04d}"
    if value in ("head", "base"):
        return value
    raise SettingsError(
        f"MIGRATION_VERSION={value!r} is neither latest nor a version number: "
        "set HOTEL_MIGRATION_TARGET to head or a revision such as 0003"
    )


def earlier_settings(
    environ: dict[str, str | None], fields: Container[str] | None = None
) -> dict[str, str]:
    """Settings given the earlier system's way, as field values (of `fields` only: each
    settings class reads its own, and says each deprecation once)."""
    for name, how in EARLIER_REFUSED.items():
        if environ.get(name):
            raise SettingsError(f"{name} is no longer read: {how}; then unset {name}")
    values = {}
    for name, field in EARLIER_SETTINGS.items():
        value = environ.get(name)
        if fields is not None and field not in fields:
            continue
        new = f"HOTEL_{field.upper()}"
        if not value:
            continue
        if environ.get(new):
            log.warning("%s is deprecated and ignored: %s is set", name, new)
            continue
        values[field] = migration_target_of(value) if field == "migration_target" else value
        log.warning("%s is deprecated: read as %s=%s; rename it", name, new, values[field])
    return values


def libpq_url(url: str) -> str:
    """The libpq URL psycopg and the server tools take, from a SQLAlchemy one
    (postgresql+psycopg://... -> postgresql://...)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def environment() -> dict[str, str | None]:
    """The variables settings are read from: the process's over a git-ignored .env."""
    return {**_dotenv(), **os.environ}


@lru_cache
def get_settings() -> Settings:
    earlier = earlier_settings(environment(), Settings.model_fields)
    return Settings(**earlier)  # type: ignore[arg-type]
