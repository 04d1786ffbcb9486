"""Where backups live and how to reach the stack: one `BackupContext` for the local stack and
for the compose one (inside the db_backup container), both from the shared topology."""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from psycopg.conninfo import conninfo_to_dict

from deploy.backup.settings import get_backup_settings
from deploy.cluster.local import LocalCluster
from deploy.cluster.topology import (
    STANZA,
    Topology,
    compose_topology,
    pgbackrest_config,
    superuser_url,
)
from deploy.process import chown_to_server_user, find_binary, run_as_server_user, safe_dir
from hotel_models.errors import HotelError
from hotel_models.settings import get_settings
from monitor.targets import BACKUP_METRICS_PORT

DATABASE = "hotel"
PGBACKREST_HINT = "apt-get install --no-install-recommends pgbackrest"


@dataclass(frozen=True)
class BackupContext:
    topology: Topology
    superuser_password: str
    state_dir: Path  # metrics, manifests of physical backups, logical snapshots
    retention_full: int = 2
    retention_diff: int = 6
    logical_keep: int = 7
    metrics_port: int = BACKUP_METRICS_PORT
    more_repos: dict[str, Any] = field(default_factory=dict)  # repo2's options, if any

    # -- paths --------------------------------------------------------------------------------

    @property
    def home(self) -> Path:
        return Path(self.topology.backup_home)

    @property
    def repo(self) -> Path:
        return Path(self.topology.backup_repo)

    @property
    def conf_path(self) -> Path:
        return self.home / "pgbackrest.conf"

    @property
    def manifests(self) -> Path:
        return self.state_dir / "backups" / "physical"

    @property
    def logical_dir(self) -> Path:
        return self.state_dir / "backups" / "logical"

    @property
    def metrics_file(self) -> Path:
        return self.state_dir / "metrics" / "backup.prom"

    # -- connections --------------------------------------------------------------------------

    # The superuser is refused over TCP: the backup host reaches the nodes through their
    # sockets (in compose, the node volumes it mounts), libpq finding the primary or a replica.

    def primary_url(self, database: str = DATABASE) -> str:
        return superuser_url(
            self.topology,
            self.superuser_password,
            database,
            driver="postgresql",
            homes=self.topology.backup_node_homes,
        )

    def replica_url(self, database: str = DATABASE) -> str:
        return superuser_url(
            self.topology,
            self.superuser_password,
            database,
            standby=True,
            driver="postgresql",
            homes=self.topology.backup_node_homes,
        )

    # -- pgBackRest ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Render the backup host's pgbackrest.conf and make its directories (server user's)."""
        if not self.repo.is_dir():
            raise HotelError(
                f"backup repository {self.repo} is missing: restore the volume/mount or run "
                "`hotel cluster up` once to create it"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        made = [self.home]
        if repo2 := self.more_repos.get("repo2-path"):
            made.append(safe_dir(Path(repo2)))
        for sub in ("log", "lock", "spool"):
            (self.home / sub).mkdir(exist_ok=True)
            made.append(self.home / sub)
        self.conf_path.touch(mode=0o600, exist_ok=True)
        self.conf_path.chmod(0o600)  # repo2's passphrase
        self.conf_path.write_text(
            pgbackrest_config(
                self.topology, self.retention_full, self.retention_diff, self.more_repos
            )
        )
        made.append(self.conf_path)
        chown_to_server_user(*made)

    def pgbackrest(
        self, *args: str, timeout: float = 3600, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run pgBackRest as the server user; a failure is a HotelError with its ERROR line."""
        argv = [pgbackrest_binary(), f"--config={self.conf_path}", f"--stanza={STANZA}", *args]
        try:
            done = run_as_server_user(
                argv,
                env={"PGPASSWORD": self.superuser_password},
                cwd=self.home,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            raise HotelError(f"pgbackrest {args[-1]} did not finish in {timeout:.0f} s") from None
        if check and done.returncode != 0:
            raise HotelError(f"pgbackrest {args[-1]} failed: {error_line(done)}{self._full()}")
        return done

    def _full(self) -> str:
        """pgBackRest reports ENOSPC as a bare "unable to write": say so when it is that."""
        try:
            usage = shutil.disk_usage(self.repo)
        except OSError:
            return ""
        if usage.free < min(64 << 20, usage.total // 100 + 1):
            return f" (the repository is full: {usage.free >> 10} KiB free on {self.repo})"
        return ""


def error_line(done: subprocess.CompletedProcess[str]) -> str:
    """The one line that says what went wrong (pgBackRest prints `ERROR: [nnn]: ...`)."""
    text = f"{done.stderr}\n{done.stdout}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "ERROR" in line or "error:" in line.lower():
            return line
    return lines[-1] if lines else f"exit code {done.returncode}"


def pgbackrest_binary() -> str:
    return find_binary("pgbackrest", hint=PGBACKREST_HINT)


def libpq_env(url: str) -> dict[str, str]:
    """A DSN's parts as PG* variables, for libpq client tools: no password in argv."""
    params = conninfo_to_dict(url)
    return {
        "PGHOST": str(params.get("host", "")),
        "PGPORT": str(params.get("port", "")),
        "PGUSER": str(params.get("user", "")),
        "PGPASSWORD": str(params.get("password", "")),
        "PGDATABASE": str(params.get("dbname", "")),
        "PGTARGETSESSIONATTRS": str(params.get("target_session_attrs", "any")),
    }


def context_from_settings() -> BackupContext:
    """The stack `hotel backup` serves: the local one, or compose's (HOTEL_BACKUP_TARGET)."""
    settings = get_backup_settings()
    state_dir = get_settings().state_dir
    if settings.target == "compose":
        password = os.environ.get("HOTEL_CLUSTER_SUPERUSER_PASSWORD")
        if not password:
            raise HotelError("set HOTEL_CLUSTER_SUPERUSER_PASSWORD (compose reads it from .env)")
        return BackupContext(
            compose_topology(),
            password,
            state_dir=state_dir.resolve(),
            retention_full=settings.retention_full,
            retention_diff=settings.retention_diff,
            logical_keep=settings.logical_keep,
            metrics_port=settings.metrics_port,
            more_repos=settings.repo2_options(),
        )
    cluster = LocalCluster.for_state_dir(state_dir)
    if not cluster.exists():
        raise HotelError(f"no local cluster under {cluster.root}: run `hotel cluster up` first")
    return context_for_cluster(
        cluster,
        state_dir.resolve(),
        settings.retention_full,
        settings.retention_diff,
        settings.logical_keep,
        settings.metrics_port,
    )


def context_for_cluster(
    cluster: LocalCluster,
    state_dir: Path,
    retention_full: int = 2,
    retention_diff: int = 6,
    logical_keep: int = 7,
    metrics_port: int | None = None,
) -> BackupContext:
    """The local stack's context; the metrics port follows the stack's port offset."""
    port = get_backup_settings().metrics_port if metrics_port is None else metrics_port
    return BackupContext(
        cluster.topology,
        cluster.credentials().superuser_password,
        state_dir=state_dir,
        retention_full=retention_full,
        retention_diff=retention_diff,
        logical_keep=logical_keep,
        metrics_port=port + cluster.offset if port else 0,
        more_repos=get_backup_settings().repo2_options(),
    )
