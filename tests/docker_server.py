"""A throwaway PostgreSQL 15 in a container of the platform image (HOTEL_TEST_BACKEND=docker):
the server the compose stack runs, with the embedded server's settings, published on a random
port of 127.0.0.1 and removed afterwards."""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from deploy.cluster.compose import docker
from deploy.process import eventually
from hotel_models.errors import HotelError

IMAGE = f"hotel-platform:{os.environ.get('HOTEL_IMAGE_TAG', 'latest')}"
# initdb like the embedded server (deploy/embedded.py), then postgres in the foreground with
# its settings; clients come from the host through the published port (the bridge gateway).
SCRIPT = """set -e
umask 077
printf %s "$HOTEL_TEST_PASSWORD" > /tmp/pw
initdb -D /tmp/pg -U postgres --pwfile=/tmp/pw --auth=scram-sha-256 -E UTF8 \
  --locale=C.UTF-8 --data-checksums >/dev/null
rm /tmp/pw
echo "host all all 0.0.0.0/0 scram-sha-256" >> /tmp/pg/pg_hba.conf
exec postgres -D /tmp/pg -c listen_addresses='*' -c max_connections=200 \
  -c shared_buffers=256MB -c random_page_cost=1.1 -c log_min_messages=warning \
  -c shared_preload_libraries=pg_stat_statements"""


@contextmanager
def throwaway_container(image: str = IMAGE) -> Iterator[str]:
    """Yields a superuser URL to the container's maintenance database."""
    if shutil.which("docker") is None or docker("info", timeout=30).returncode != 0:
        raise HotelError("no Docker engine answers: apt-get install docker.io, start dockerd")
    if docker("image", "inspect", image).returncode != 0:
        raise HotelError(f"no image {image}: build it with deploy/compose/build.sh")
    password = secrets.token_urlsafe(24)
    started = docker(
        "run", "-d", "--rm", "-e", "HOTEL_TEST_PASSWORD", "-p", "127.0.0.1::5432",
        "--label", "hotel.throwaway=1", image, "sh", "-c", SCRIPT,
        env={**os.environ, "HOTEL_TEST_PASSWORD": password},
    )  # fmt: skip
    if started.returncode != 0:
        raise HotelError(f"docker run {image}: {started.stderr.strip()}")
    container = started.stdout.strip()
    try:
        published = docker("port", container, "5432/tcp").stdout.split()
        if not published:
            raise HotelError(f"container {container[:12]} publishes no port: did it exit?")
        port = published[0].rsplit(":", 1)[1]
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"

        def ready() -> bool:
            try:
                with psycopg.connect(url, connect_timeout=2):
                    return True
            except psycopg.OperationalError:
                return False

        eventually(ready, 60, f"PostgreSQL in container {container[:12]}", interval=0.5)
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        docker("rm", "-f", container)
