"""What Docker and the kernel say about the compose project's containers, for the tests on
the stack (before the fault drills and after them, which re-create some containers)."""

from __future__ import annotations

import json
from typing import Any

from deploy.cluster.compose import ComposeCluster, docker

# docker-compose.yml's x-patroni: a partitioned leader's Patroni must fail its lookups fast.
NODE_DNS_OPTIONS = ["timeout:1", "attempts:1"]


def containers(stack: ComposeCluster) -> dict[str, dict[str, Any]]:
    """`docker inspect` of every container of the project, by service."""
    label = f"label=com.docker.compose.project={stack.project}"
    ids = docker("ps", "-aq", "--filter", label).stdout.split()
    found = json.loads(docker("inspect", *ids).stdout)
    return {c["Config"]["Labels"]["com.docker.compose.service"]: c for c in found}


def weaker_than_compose_says(stack: ComposeCluster) -> dict[str, str]:
    """Every running container whose first process could gain privileges or holds a
    capability (the kernel's own /proc/1/status), and every node that lost its DNS options:
    service -> what is wrong."""
    wrong: dict[str, str] = {}
    nodes = {node.name for node in stack.topology.nodes}
    for service, info in containers(stack).items():
        if not info["State"]["Running"]:
            continue
        status = docker("exec", info["Id"], "cat", "/proc/1/status").stdout
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        privileges = {k: fields.get(k, "?").strip() for k in ("NoNewPrivs", "CapBnd", "CapEff")}
        if privileges != {"NoNewPrivs": "1", "CapBnd": "0" * 16, "CapEff": "0" * 16}:
            wrong[service] = str(privileges)
        dns = info["HostConfig"].get("DnsOptions") or []
        if service in nodes and dns != NODE_DNS_OPTIONS:
            wrong[service] = f"DNS options {dns}"
    return wrong
