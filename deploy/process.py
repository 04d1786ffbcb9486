"""Process and OS helpers of every stack: the server user, child processes and their pid files,
waiting with a deadline, binaries and ports.

PostgreSQL, Patroni and pgBackRest refuse to run as root and must own what they write, so when
we run as root (CI, containers) they run as the `postgres` system user; everything that starts
or prepares them goes through here.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from hotel_models.errors import HotelError

SERVER_USER = "postgres"
SERVER_INSTALL_HINT = "apt-get install --no-install-recommends postgresql-15 postgresql-contrib"
T = TypeVar("T")


# -- the server user -----------------------------------------------------------------------------


def runs_as_server_user() -> bool:
    """Server processes drop to SERVER_USER when we are root (PostgreSQL refuses root)."""
    return os.geteuid() == 0


def server_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVER_USER)
    except KeyError:
        raise HotelError(
            f"running as root needs the '{SERVER_USER}' system user: {SERVER_INSTALL_HINT}"
        ) from None


def has_server_user() -> bool:
    try:
        pwd.getpwnam(SERVER_USER)
    except KeyError:
        return False
    return True


def reachable_by_server_user(path: Path) -> bool:
    """Can the server user walk down to `path`? (The execute bit of every ancestor.)"""
    user = server_user()
    for parent in reversed(path.resolve().parents):
        mode = parent.stat()
        if mode.st_uid == user.pw_uid:
            needed = stat.S_IXUSR
        elif mode.st_gid == user.pw_gid:
            needed = stat.S_IXGRP
        else:
            needed = stat.S_IXOTH
        if not mode.st_mode & needed:
            return False
    return True


def chown_to_server_user(*paths: Path) -> None:
    """Give `paths` to the server user when it runs the servers (no-op otherwise)."""
    if runs_as_server_user():
        user = server_user()
        for path in paths:
            os.chown(path, user.pw_uid, user.pw_gid, follow_symlinks=False)


def server_user_kwargs() -> dict[str, Any]:
    """subprocess arguments that drop root to the server user (none when not root)."""
    if not runs_as_server_user():
        return {}
    user = server_user()
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


def server_user_env() -> dict[str, str]:
    """The server user's own HOME when we drop to it: libpq reads ~/.postgresql for client
    certificates and fails on root's, which that user cannot read."""
    return {"HOME": server_user().pw_dir} if runs_as_server_user() else {}


def run_as_server_user(
    argv: list[str],
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a server tool (initdb, pg_ctl, pgbackrest...) to completion as the server user."""
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd or "/",
        timeout=timeout,
        env={**os.environ, "LC_ALL": "C.UTF-8", **server_user_env(), **(env or {})},
        **server_user_kwargs(),
    )


def last_line(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed tool said last (its reason), for a one-line error."""
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit code {result.returncode}"


# -- private files ------------------------------------------------------------------------------


def safe_dir(path: Path, mode: int = 0o700) -> Path:
    """`path` as a directory of ours with `mode` (0700: only we and the server user we hand it
    to enter it): created so, or, when it exists, refused unless it is a real directory owned
    by us or the server user and writable by no one else (a guessable path under /var/tmp could
    have been planted by another user)."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        found = path.lstat()
        owners = {os.geteuid(), *([server_user().pw_uid] if runs_as_server_user() else [])}
        if (
            not stat.S_ISDIR(found.st_mode)
            or found.st_uid not in owners
            or found.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        ):
            raise HotelError(
                f"{path} exists but is not a private directory of ours (a symlink, another "
                "owner, or writable by others): remove it or choose another HOTEL_STATE_DIR"
            ) from None
    path.chmod(mode)
    return path


def write_secret(path: Path, text: str) -> None:
    """Create `path` with mode 0600 from the first byte, refusing a file or symlink already
    there (O_EXCL | O_NOFOLLOW): a secret is never written into a file someone else made."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise HotelError(f"{path} already exists: refusing to write a secret into it") from None
    with os.fdopen(fd, "w") as out:
        out.write(text)


def read_secret(path: Path) -> str:
    """A secret file of ours: a regular file owned by us or the server user, mode 0600."""
    found = path.lstat()
    owners = {os.geteuid(), *([server_user().pw_uid] if runs_as_server_user() else [])}
    if not stat.S_ISREG(found.st_mode) or found.st_uid not in owners or found.st_mode & 0o077:
        raise HotelError(
            f"{path} is not a private secret file of ours (0600, owned by us): refusing to use it"
        )
    return path.read_text()


# -- child processes -----------------------------------------------------------------------------

# Popen objects of the processes this interpreter started: kept so they are not collected
# while running (a ResourceWarning) and polled so exited children do not linger as zombies.
_children: dict[int, subprocess.Popen[bytes]] = {}


def spawn(
    argv: list[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    as_server_user: bool = True,
) -> subprocess.Popen[bytes]:
    """Start a service in its own session (so it can be stopped as a process group), output
    appended to `log`."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={
                **os.environ,
                "LC_ALL": "C.UTF-8",
                **(server_user_env() if as_server_user else {}),
                **(env or {}),
            },
            start_new_session=True,
            **(server_user_kwargs() if as_server_user else {}),
        )
    _children[process.pid] = process
    return process


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat), or
    None when there is no such live (non-zombie) process."""
    child = _children.get(pid)
    if child is not None and child.poll() is not None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]


def alive(pid: int) -> bool:
    """Is pid a live (non-zombie) process? Reaps it first if it is our own child."""
    return _start_time(pid) is not None


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(os.getpgid(pid), sig)


def terminate(pid: int, timeout: float, sig: signal.Signals = signal.SIGTERM) -> None:
    """Signal pid's process group, and SIGKILL it if it outlives `timeout`."""
    signal_group(pid, sig)
    if not wait_until(lambda: not alive(pid), timeout):
        signal_group(pid, signal.SIGKILL)


@dataclass(frozen=True)
class PidFile:
    """A service's pid with its start time: a stale file whose pid now belongs to another
    process (after a reboot or pid reuse) names nothing, so nothing else is ever signalled."""

    path: Path

    def write(self, pid: int) -> None:
        self.path.write_text(f"{pid} {_start_time(pid) or ''}".strip())

    def pid(self) -> int | None:
        """The recorded process if it still runs; None for a missing or stale file."""
        try:
            recorded = self.path.read_text().split()
            pid = int(recorded[0])
        except (OSError, ValueError, IndexError):
            return None
        started = _start_time(pid)
        if started is None or (len(recorded) > 1 and recorded[1] != started):
            return None
        return pid

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM the recorded process group, SIGKILL after `timeout`; returns the pid stopped."""
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout)
        self.path.unlink(missing_ok=True)
        return pid


def start_service(
    what: str, argv: list[str], pid_file: PidFile, log: Path, port: int, env: dict[str, str]
) -> str:
    """Start `argv` as our own background service unless it runs (its own session, so it can be
    stopped by its pid file) and wait until it serves `port`; says what it did."""
    if running := pid_file.pid():
        return f"running (pid {running})"
    process = spawn(argv, log, env=env, as_server_user=False)
    pid_file.write(process.pid)

    def serving() -> bool:
        if process.poll() is not None:
            raise HotelError(f"the {what} did not start: see {log}")
        return listening(port)

    eventually(serving, 60, f"the {what} to serve :{port} (log {log})", interval=0.5)
    return f"started (pid {process.pid}, log {log})"


# -- waiting -------------------------------------------------------------------------------------


def wait_until(check: Callable[[], T], timeout: float, interval: float = 0.2) -> T | None:
    """Poll `check` until it returns something truthy (returned) or `timeout` passes (None)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result or None
        time.sleep(interval)


def eventually(check: Callable[[], T], timeout: float, what: str, interval: float = 0.2) -> T:
    """Like wait_until, but a HotelError naming `what` on timeout."""
    result = wait_until(check, timeout, interval)
    if result is None:
        raise HotelError(f"timed out after {timeout:.0f} s waiting for {what}")
    return result


# -- binaries and ports --------------------------------------------------------------------------


def find_binary(*names: str, hint: str) -> str:
    """The first of `names` on PATH or in /usr/sbin (a non-root PATH lacks it), or
    one line saying how to install it."""
    for name in names:
        found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
        if found:
            return found
    raise HotelError(f"{names[0]} not found: {hint}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_ports() -> range:
    """The ports the kernel gives outgoing connections (Linux default 32768-60999)."""
    try:
        low, high = (int(value) for value in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def check_fixed_ports(ports: dict[str, int], setting: str) -> None:
    """Ports a server listens on must be ports, and outside the ephemeral range: there any
    process's outgoing connection may hold one at the moment the server starts (it then
    fails now and then, never reproducibly). `setting` is what moves them."""
    ephemeral = ephemeral_ports()
    for what, port in ports.items():
        if not 1 <= port <= 65535:
            raise HotelError(f"port {port} ({what}) is not a TCP port (1-65535): change {setting}")
        if port in ephemeral:
            raise HotelError(
                f"port {port} ({what}) is in the range the kernel gives outgoing connections "
                f"({ephemeral.start}-{ephemeral.stop - 1}, {EPHEMERAL_RANGE}): lower {setting} "
                f"so that every port stays below {ephemeral.start}"
            )


def port_owner(port: int) -> str | None:
    """None if 127.0.0.1:port is free, else what holds it (process name and pid if known)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            return None
        except OSError:
            pass
    try:
        out = subprocess.run(
            ["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        out = ""
    found = re.search(r'users:\(\("([^"]+)",pid=(\d+)', out)
    return f"{found.group(1)} (pid {found.group(2)})" if found else "another process"
