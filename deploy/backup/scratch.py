"""A restored data directory run as a throw-away PostgreSQL instance on a free port."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from deploy.cluster.topology import SUPERUSER
from deploy.embedded import find_bin_dir
from deploy.process import chown_to_server_user, eventually, free_port, run_as_server_user
from hotel_models.errors import HotelError

# A restored data directory carries the node's Patroni-written postgresql.conf: its port,
# sockets, hba file, synchronous standby and archive_command. Every one of those is overridden
# so the copy cannot collide with the node, wait for a standby that is not there, or archive
# a new timeline into the cluster's repository.
OVERRIDES = {
    "listen_addresses": "127.0.0.1",
    "archive_mode": "off",
    "synchronous_standby_names": "",
    "primary_conninfo": "",
    "hot_standby": "on",
    "logging_collector": "off",
    "shared_buffers": "64MB",
    "ssl": "off",  # the node's certificate paths need not exist where the copy runs
}
# The node's pg_hba refuses the superuser over TCP; the copy is a private one on loopback,
# reached by whoever restored it (`hotel backup restore` prints its port).
SCRATCH_HBA = "local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n"


@dataclass
class ScratchInstance:
    data_dir: Path
    password: str
    port: int = 0

    @property
    def log_file(self) -> Path:
        # Inside the data directory: the server user owns it, whoever owns the parent.
        return self.data_dir / "restored.log"

    def url(self, database: str = "hotel", driver: str = "postgresql") -> str:
        secret = quote(self.password, safe="")
        return f"{driver}://{SUPERUSER}:{secret}@127.0.0.1:{self.port}/{database}"

    def options(self) -> str:
        settings = {
            **OVERRIDES,
            "port": str(self.port),
            "unix_socket_directories": str(self.data_dir),
            "hba_file": str(self.data_dir / "scratch_hba.conf"),
            "ident_file": str(self.data_dir / "pg_ident.conf"),
        }
        return " ".join(f"-c {key}='{value}'" for key, value in settings.items())

    def start(self, timeout: float = 600) -> None:
        """Start it and wait until recovery has reached its target and promoted."""
        self.port = self.port or free_port()
        hba = self.data_dir / "scratch_hba.conf"
        hba.write_text(SCRATCH_HBA)
        chown_to_server_user(hba)
        pg_ctl = str(find_bin_dir() / "pg_ctl")
        argv = [pg_ctl, "-D", str(self.data_dir), "-l", str(self.log_file), "-o", self.options()]
        done = run_as_server_user([*argv, "-w", "-t", str(int(timeout)), "start"])
        if done.returncode != 0:
            why = self._last_log_line() if self.log_file.exists() else done.stderr.strip()
            raise HotelError(f"restored instance did not start: {why}")
        eventually(self._promoted, timeout, "the restored instance to finish recovery", 0.3)

    def _promoted(self) -> bool:
        """Recovery reached its target and the copy accepts writes; a copy that stopped while
        recovering is an error naming its last log line."""
        try:
            with psycopg.connect(self.url("postgres"), connect_timeout=5) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row is not None and not row[0]:
                return True
        except psycopg.OperationalError:
            pass
        if not (self.data_dir / "postmaster.pid").exists():
            why = self._last_log_line()
            if "before configured recovery target" in why:
                why += " (the archive ends before the target: check pg_stat_archiver)"
            raise HotelError(f"restored instance stopped: {why}")
        return False

    def _last_log_line(self) -> str:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return "no log"
        errors = [line for line in lines if "FATAL" in line or "PANIC" in line]
        return (errors or lines or ["empty log"])[-1].strip()

    def stop(self) -> None:
        if (self.data_dir / "postmaster.pid").exists():
            pg_ctl = str(find_bin_dir() / "pg_ctl")
            run_as_server_user([pg_ctl, "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
