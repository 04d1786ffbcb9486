"""The load generator's /metrics listens on this machine only unless told otherwise: a
`hotel load` on a shared host must not publish the service's figures to the network."""

from __future__ import annotations

import os
import subprocess

from deploy.process import eventually, free_port
from tests.helpers import HOTEL, PROJECT_ROOT, hotel_env

LOOPBACK = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
ANY = "00000000"


def listening_address(port: int) -> str | None:
    """The local address a socket LISTENs on at `port` (hex, /proc/net/tcp), None if none."""
    with open("/proc/net/tcp") as table:
        for line in list(table)[1:]:
            local, state = line.split()[1], line.split()[3]
            address, _, hex_port = local.partition(":")
            if state == "0A" and int(hex_port, 16) == port:
                return address
    return None


def listening_while_loading(url: str, env: dict[str, str]) -> str:
    port = free_port()
    argv = [*HOTEL, "load", "--rate", "2", "--duration", "30", "--metrics-port", str(port)]
    env = hotel_env(
        {"HOTEL_DATABASE_URL": url, "HOTEL_APP_PASSWORD": os.environ["HOTEL_APP_PASSWORD"], **env}
    )
    process = subprocess.Popen(
        argv, env=env, cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        found = eventually(lambda: listening_address(port), 60, f"hotel load to listen on {port}")
        return str(found)
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_load_metrics_listen_on_loopback_by_default(load_url: str) -> None:
    assert listening_while_loading(load_url, {}) == LOOPBACK


def test_the_metrics_address_is_a_setting(load_url: str) -> None:
    opened = {"HOTEL_LOAD_METRICS_ADDRESS": "0.0.0.0"}  # noqa: S104 - what compose sets
    assert listening_while_loading(load_url, opened) == ANY
