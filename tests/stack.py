"""The module-scoped local HA stack for the `cluster` tests (HA, backups, monitoring), and log
capture when one fails: a pytest plugin the root conftest loads."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from deploy.cluster.local import LocalCluster

# Far from the default ports, so a developer's own `hotel cluster up` does not collide;
# HOTEL_TEST_CLUSTER_PORT_OFFSET lets two test runs share a machine.
PORT_OFFSET = int(os.environ.get("HOTEL_TEST_CLUSTER_PORT_OFFSET", "20000"))
REPORTS = Path(__file__).resolve().parents[1] / "reports" / "cluster-logs"
_active: list[LocalCluster] = []


@pytest.fixture(scope="module")
def ha_cluster() -> Iterator[LocalCluster]:
    """A fresh stack under /var/tmp (reachable by the postgres user), torn down afterwards."""
    for tool in ("etcd", "haproxy"):
        if not shutil.which(tool) and not shutil.which(tool, path="/usr/sbin"):
            pytest.fail(f"{tool} missing: apt-get install etcd-server etcd-client haproxy")
    state = Path(tempfile.mkdtemp(prefix="hotel-cluster-test-", dir="/var/tmp"))
    state.chmod(0o755)
    cluster = LocalCluster(state / "cluster")
    _active.append(cluster)
    try:
        cluster.up(PORT_OFFSET)
        yield cluster
    finally:
        _active.remove(cluster)
        cluster.down()
        cluster.purge(keep_backups=False)
        shutil.rmtree(state, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, None]:
    """On a failure with a stack running, copy every log away and name the directory."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and _active:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        dest = _active[-1].collect_logs(REPORTS / f"{item.name}-{call.when}-{stamp}")
        report.sections.append(("cluster logs", f"process and PostgreSQL logs copied to {dest}"))
        print(f"\ncluster logs copied to {dest}")
