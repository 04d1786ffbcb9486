"""A local PostgreSQL instance from the server binaries: the default where no server is given.

Runs as the invoking user, or as the `postgres` system user when invoked as root (PostgreSQL
refuses to run as root). Listens on 127.0.0.1 only, on a free port, with no Unix socket, and
authenticates with scram-sha-256 and a random superuser password kept in a 0600 file: a dev
server must not be an open door on a shared machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from deploy.process import (
    SERVER_INSTALL_HINT,
    chown_to_server_user,
    free_port,
    has_server_user,
    last_line,
    reachable_by_server_user,
    read_secret,
    run_as_server_user,
    runs_as_server_user,
    safe_dir,
    write_secret,
)
from hotel_models.errors import HotelError

SUPERUSER = "postgres"
DATABASE = "hotel"
# pg_stat_statements allocates its shared memory at server start, so it must be preloaded:
# `hotel explain --top` and loadtest.statements read it (revision 0015 creates the extension).
PRELOAD_KEY = "shared_preload_libraries"
PRELOAD = f"{PRELOAD_KEY} = 'pg_stat_statements'"


@contextmanager
def throwaway_server(prefix: str = "hotel-pg-") -> Iterator[str]:
    """A fresh instance in a temporary directory, removed afterwards (tests, benchmarks);
    yields a superuser URL to its maintenance database."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)  # as root the server runs as `postgres`, which must reach it
    server = EmbeddedPostgres(root / "pg")
    try:
        server.init()
        server.start()
        yield server.url("postgres")
    finally:
        server.remove()
        shutil.rmtree(root, ignore_errors=True)


def create_database_if_missing(conn: psycopg.Connection[Any], name: str) -> None:
    """CREATE DATABASE `name` unless it exists (on an autocommit connection to the primary)."""
    found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
    if found.fetchone() is None:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def find_bin_dir() -> Path:
    """The directory of initdb/pg_ctl: HOTEL_PG_BIN_DIR, PATH, then /usr/lib/postgresql/*/bin."""
    override = os.environ.get("HOTEL_PG_BIN_DIR")
    if override:
        if not all((Path(override) / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            raise HotelError(
                f"HOTEL_PG_BIN_DIR={override} has no initdb/pg_ctl/postgres: point it at a "
                f"PostgreSQL bin directory, or unset it and {SERVER_INSTALL_HINT}"
            )
        return Path(override)
    candidates = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(versions)
    for directory in candidates:
        if all((directory / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise HotelError(
        f"PostgreSQL server binaries (initdb, pg_ctl) not found: {SERVER_INSTALL_HINT}"
    )


@dataclass
class EmbeddedPostgres:
    """One instance under `root`: data/ (the cluster), server.log, instance.json (port)."""

    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def _meta_file(self) -> Path:
        return self.root / "instance.json"

    @property
    def _password_file(self) -> Path:
        return self.root / "superuser.password"

    @classmethod
    def for_state_dir(cls, state_dir: Path) -> EmbeddedPostgres:
        """The instance of a state directory (`hotel up`): state_dir/pg, or, when running as
        root under a path the server user cannot reach (a clone in /root), a directory under
        /var/tmp/hotel recorded in state_dir/pg.location."""
        pointer = state_dir / "pg.location"
        if pointer.is_file():
            return cls(Path(pointer.read_text().strip()))
        root = state_dir.resolve() / "pg"
        if (
            runs_as_server_user()
            and has_server_user()
            and not reachable_by_server_user(state_dir.resolve())
        ):
            digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
            root = Path("/var/tmp/hotel") / digest  # noqa: S108 (checked: ours, 0700 inside)
            safe_dir(root.parent, 0o755)
            state_dir.mkdir(parents=True, exist_ok=True)
            pointer.write_text(str(root))
        return cls(root)

    # -- lifecycle -------------------------------------------------------------------

    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self, settings: Sequence[str] = ()) -> None:
        """initdb with data checksums and a random superuser password; no-op if done."""
        if self.initialized():
            return
        bin_dir = find_bin_dir()
        safe_dir(self.root)
        self._prepare_ownership()
        password = secrets.token_urlsafe(24)
        pwfile = self.root / ".initdb-pw"
        for leftover in (self._password_file, pwfile):  # of an init that failed half-way
            leftover.unlink(missing_ok=True)
        write_secret(self._password_file, password)
        write_secret(pwfile, password)
        chown_to_server_user(pwfile)
        try:
            self._run(
                [
                    str(bin_dir / "initdb"),
                    "--pgdata",
                    str(self.data_dir),
                    "--username",
                    SUPERUSER,
                    "--pwfile",
                    str(pwfile),
                    "--auth",
                    "scram-sha-256",
                    "--encoding",
                    "UTF8",
                    "--locale",
                    "C.UTF-8",
                    "--data-checksums",
                ],
                what="initdb",
            )
        finally:
            pwfile.unlink(missing_ok=True)
        port = free_port()
        conf = [
            "listen_addresses = '127.0.0.1'",
            f"port = {port}",
            "unix_socket_directories = ''",
            "fsync = on",
            "max_connections = 200",
            "shared_buffers = 256MB",
            "log_min_messages = warning",
            # SSD or page cache: a random read costs about a sequential one (the default 4
            # is for spinning disks, and has small cities' searches read all rooms).
            # The cluster sets the same (deploy/cluster/topology.py PG_PARAMETERS).
            "random_page_cost = 1.1",
            PRELOAD,
            *settings,
        ]
        auto_conf = self.data_dir / "postgresql.auto.conf"
        with auto_conf.open("a") as handle:
            handle.write("\n".join(conf) + "\n")
        self._meta_file.write_text(json.dumps({"port": port}))

    def running(self) -> bool:
        if not self.initialized():
            return False
        result = self._run(
            [str(find_bin_dir() / "pg_ctl"), "status", "--pgdata", str(self.data_dir)],
            what="pg_ctl status",
            check=False,
        )
        return result.returncode == 0

    def start(self) -> None:
        """Start the instance (no-op if running) with the settings of the current code."""
        if self._add_missing_preload() and self.running():
            self.stop()  # a postmaster setting: only a restart applies it (once, on upgrade)
        if self.running():
            return
        self._run(
            [
                str(find_bin_dir() / "pg_ctl"),
                "start",
                "--wait",
                "--timeout",
                "60",
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
            ],
            what="pg_ctl start",
        )
        if not self.running():
            raise HotelError(f"PostgreSQL did not start: see {self.log_file}")
        self._ensure_database()

    def _add_missing_preload(self) -> bool:
        """An instance initialised before pg_stat_statements was preloaded gets the setting;
        one that sets shared_preload_libraries itself (ALTER SYSTEM) is left alone. True if
        it was added."""
        auto_conf = self.data_dir / "postgresql.auto.conf"
        if not auto_conf.is_file():
            return False
        text = auto_conf.read_text()
        if PRELOAD_KEY in (line.split("=", 1)[0].strip() for line in text.splitlines()):
            return False
        separator = "" if text.endswith("\n") or not text else "\n"
        with auto_conf.open("a") as handle:
            handle.write(f"{separator}{PRELOAD}\n")
        return True

    def stop(self) -> None:
        if self.running():
            self._run(
                [
                    str(find_bin_dir() / "pg_ctl"),
                    "stop",
                    "--wait",
                    "--mode",
                    "fast",
                    "--pgdata",
                    str(self.data_dir),
                ],
                what="pg_ctl stop",
            )

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- connection --------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(json.loads(self._meta_file.read_text())["port"])

    def url(self, database: str = DATABASE, driver: str = "postgresql+psycopg") -> str:
        password = quote(read_secret(self._password_file).strip(), safe="")
        return f"{driver}://{SUPERUSER}:{password}@127.0.0.1:{self.port}/{database}"

    def _ensure_database(self) -> None:
        with psycopg.connect(self.url("postgres", driver="postgresql"), autocommit=True) as conn:
            create_database_if_missing(conn, DATABASE)

    # -- running as the server user -------------------------------------------------------

    def _prepare_ownership(self) -> None:
        if not runs_as_server_user():
            return
        if not reachable_by_server_user(self.root):
            raise HotelError(
                f"{self.root} is not reachable by the server user that runs PostgreSQL as "
                "root: choose a state directory under a world-traversable path "
                "(for example HOTEL_STATE_DIR=/var/tmp/hotel)"
            )
        chown_to_server_user(self.root)

    def _run(
        self, argv: list[str], *, what: str, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = run_as_server_user(argv)
        if check and result.returncode != 0:
            raise HotelError(f"{what} failed: {last_line(result)} (log: {self.log_file})")
        return result
