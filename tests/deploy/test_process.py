"""The process and OS helpers hold when someone tries to get past them: planted directories,
planted secret files, stale pid files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deploy.process import PidFile, alive, read_secret, safe_dir, write_secret
from hotel_models.errors import HotelError


def test_safe_dir_creates_a_private_directory(tmp_path: Path) -> None:
    made = safe_dir(tmp_path / "a" / "state")
    assert made.stat().st_mode & 0o777 == 0o700


@pytest.mark.parametrize("planted", ["symlink", "world-writable"])
def test_safe_dir_refuses_a_planted_directory(tmp_path: Path, planted: str) -> None:
    target = tmp_path / "hotel-cluster-guessable"
    if planted == "symlink":
        (tmp_path / "elsewhere").mkdir()
        target.symlink_to(tmp_path / "elsewhere")
    else:
        target.mkdir()
        target.chmod(0o777)
    with pytest.raises(HotelError, match="not a private directory of ours"):
        safe_dir(target)


def test_write_secret_is_0600_from_the_start_and_never_reuses_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secrets.json"
    write_secret(secret, "s3cret")
    assert secret.stat().st_mode & 0o777 == 0o600
    assert read_secret(secret) == "s3cret"
    with pytest.raises(HotelError, match="already exists"):
        write_secret(secret, "other")
    planted = tmp_path / "planted"
    planted.symlink_to(tmp_path / "where-the-attacker-reads")
    with pytest.raises(HotelError, match="already exists"):
        write_secret(planted, "s3cret")
    assert not (tmp_path / "where-the-attacker-reads").exists()


def test_read_secret_refuses_a_file_others_can_read(tmp_path: Path) -> None:
    secret = tmp_path / "superuser.password"
    secret.write_text("pw")
    secret.chmod(0o644)
    with pytest.raises(HotelError, match="not a private secret file"):
        read_secret(secret)


def test_a_stale_pid_file_names_nothing(tmp_path: Path) -> None:
    """After a reboot or pid reuse the recorded pid belongs to another process: its start time
    differs, so nothing is ever signalled through the stale file."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        pid_file = PidFile(tmp_path / "load.pid")
        pid_file.write(sleeper.pid)
        assert pid_file.pid() == sleeper.pid
        # The same file naming a live process that started at another time (this test's own).
        pid_file.path.write_text(f"{os.getpid()} 1")
        assert pid_file.pid() is None
        assert pid_file.stop() is None
        assert alive(os.getpid())
    finally:
        sleeper.kill()
        sleeper.wait()
