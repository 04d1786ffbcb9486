"""The fault drills of `hotel cluster drill --compose --fault` on the session's compose stack,
after test_compose_stack.py (same stack), in an order where each fault leaves the stack
healthy for the next: the quiet ones first, the leader changes last.

Every drill runs under a writer through HAProxy's primary port on 127.0.0.1 and a check,
inside every node once a second, of how many nodes are primaries and how many servers HAProxy
routes writes to; the drill itself waits (eventually) for each step it needs and raises
HotelError when one never comes, so these tests assert what the outcome must be.
"""

from __future__ import annotations

import os

import pytest

from deploy.cluster.compose import ComposeCluster
from deploy.cluster.faults import DISK_FULL_ALERT, FaultResult, run_fault
from tests.compose.containers import weaker_than_compose_says

pytestmark = pytest.mark.compose


def drill(stack: ComposeCluster, fault: str) -> FaultResult:
    result = run_fault(stack, fault)
    print(f"{fault}: {result}")
    if not result.skipped:
        assert result.acked > 20, result
        assert (result.lost, result.duplicated) == (0, 0), result
        assert result.most_routed <= 1, result  # HAProxy never sent writes to two nodes
    return result


def test_etcd_member_replaced_nothing_else_moves(stack: ComposeCluster) -> None:
    result = drill(stack, "etcd-member")
    assert result.new_leader == result.old_leader
    assert result.watch is not None
    answered = [s for s in result.watch.samples if result.old_leader not in s.unknown]
    assert answered
    assert all(s.primaries == (result.old_leader,) for s in answered)


def test_slow_network_to_the_sync_standby_or_said_unsupported(stack: ComposeCluster) -> None:
    result = drill(stack, "slow")
    if result.skipped:  # the kernel has no sch_netem: the drill says so and runs nothing
        assert "qdisc kind is unknown" in result.skipped, result.skipped  # not a missing tc
        return
    assert result.most_primaries <= 1
    assert result.new_leader == result.old_leader


def test_replica_disk_full_sync_moves_alert_fires_and_it_catches_up(
    stack: ComposeCluster,
) -> None:
    result = drill(stack, "disk-full")
    assert result.most_primaries <= 1
    assert result.new_leader == result.old_leader  # the primary kept serving
    notes = " ".join(result.notes)
    assert "sync standby" in notes, notes
    assert "caught up" in notes, notes
    assert f"{DISK_FULL_ALERT} firing" in notes, notes  # proven from the live Prometheus


def test_etcd_quorum_lost_primary_demotes_then_writes_return(stack: ComposeCluster) -> None:
    result = drill(stack, "etcd-quorum")
    assert result.most_primaries <= 1  # writes stop cleanly (failsafe_mode is off)


def test_partitioned_leader_demotes_before_a_new_one_and_rejoins(stack: ComposeCluster) -> None:
    result = drill(stack, "partition")
    assert result.new_leader != result.old_leader
    assert result.most_primaries <= 1
    assert stack.in_recovery(result.old_leader) is True


def test_frozen_leader_thaws_without_taking_a_write(stack: ComposeCluster) -> None:
    result = drill(stack, "freeze")
    assert result.new_leader != result.old_leader
    assert not result.acked_by_old_leader, result.notes
    # Without a watchdog the thawed leader is a primary until its Patroni runs (it then
    # demotes itself): two primaries may be seen, never two routed (asserted in drill()).
    assert result.most_primaries <= 2
    assert stack.in_recovery(result.old_leader) is True


def test_containers_the_drills_recreated_are_as_compose_made_them(stack: ComposeCluster) -> None:
    """etcd-member and disk-full re-create containers by hand: hardening and DNS kept."""
    assert weaker_than_compose_says(stack) == {}


def test_tests_off_the_stack_keep_the_sessions_settings(stack_overrides: dict[str, str]) -> None:
    """The stack runs without the test session's HOTEL_* settings, but only for the tests on
    it: a later test elsewhere (the load generator's, which logs in as hotel_app) needs them."""
    assert os.environ.get("HOTEL_APP_PASSWORD"), "hotel_app's password (tests/conftest.py) is gone"
    assert os.environ.get("HOTEL_PRIMARY_PORT") != stack_overrides["HOTEL_PRIMARY_PORT"]
