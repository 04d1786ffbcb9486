"""STAND-IN for the load service and the backup service metrics (local stack only).

`hotel load` and the backup scheduler are built on other branches. Until they are merged,
`hotel cluster monitor up` starts this process on their ports -- only when nothing else
listens there -- so the `hotel_load` and `hotel_backup` targets exist and the workload and
backup panels and alerts can be checked end to end. It serves the agreed metric families with
synthetic values; nothing here touches the database.

INTEGRATOR: once `hotel load --metrics-port` and the backup exporter are merged, run them on
the same ports (deploy/monitor/targets.py: LOAD_METRICS_PORT, BACKUP_METRICS_PORT) and drop
this module; tests/cluster/test_monitoring.py names the panels that depend on them.
"""

from __future__ import annotations

import random
import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

OPERATIONS = ("search", "create_booking", "cancel_booking", "pay")


def load_registry(stop: threading.Event) -> CollectorRegistry:
    registry = CollectorRegistry()
    duration = Histogram(
        "hotel_load_operation_duration_seconds",
        "STAND-IN: duration of one operation.",
        ["operation"],
        registry=registry,
    )
    total = Counter(
        "hotel_load_operations_total",
        "STAND-IN: operations by outcome.",
        ["operation", "outcome"],
        registry=registry,
    )
    errors = Counter(
        "hotel_load_errors_total",
        "STAND-IN: failed operations by SQLSTATE class.",
        ["operation", "sqlstate_class"],
        registry=registry,
    )
    in_flight = Gauge("hotel_load_in_flight", "STAND-IN: operations running.", registry=registry)
    lag = Histogram("hotel_load_schedule_lag_seconds", "STAND-IN: start delay.", registry=registry)
    counters = {
        name: Counter(name, f"STAND-IN: {name}.", registry=registry)
        for name in (
            "hotel_load_bookings",
            "hotel_load_cancellations",
            "hotel_load_revenue",
            "hotel_load_points_earned",
            "hotel_load_points_spent",
        )
    }
    for operation in OPERATIONS:  # every series exists from the first scrape
        for outcome in ("ok", "conflict", "error"):
            total.labels(operation, outcome)
        errors.labels(operation, "40")

    def tick() -> None:
        rng = random.Random(7)  # noqa: S311 - synthetic numbers, not secrets
        while not stop.wait(0.1):
            operation = rng.choice(OPERATIONS)
            duration.labels(operation).observe(rng.lognormvariate(-4, 0.6))
            lag.observe(rng.expovariate(500))
            in_flight.set(rng.randint(0, 8))
            roll = rng.random()
            outcome = "error" if roll < 0.004 else "conflict" if roll < 0.05 else "ok"
            total.labels(operation, outcome).inc()
            if outcome == "error":
                errors.labels(operation, "40").inc()
            if operation == "create_booking" and outcome == "ok":
                counters["hotel_load_bookings"].inc()
                counters["hotel_load_revenue"].inc(rng.randint(80, 400))
                counters["hotel_load_points_earned"].inc(rng.randint(1, 40))
                counters["hotel_load_points_spent"].inc(rng.choice((0, 0, 10)))
            if operation == "cancel_booking" and outcome == "ok":
                counters["hotel_load_cancellations"].inc()

    threading.Thread(target=tick, daemon=True).start()
    return registry


def backup_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    now = time.time()
    for name, value in (
        ("hotel_backup_last_success_timestamp_seconds", now - 3600),
        ("hotel_backup_last_duration_seconds", 42.0),
        ("hotel_backup_last_size_bytes", 64 * 2**20),
        ("hotel_backup_last_result", 1.0),
    ):
        Gauge(name, f"STAND-IN: {name}.", ["type"], registry=registry).labels("full").set(value)
    runs = Counter(
        "hotel_backup_runs", "STAND-IN: backup runs.", ["type", "result"], registry=registry
    )
    runs.labels("full", "success").inc(3)
    runs.labels("full", "failure")
    Gauge(
        "hotel_backup_last_verified_timestamp_seconds", "STAND-IN: last verify.", registry=registry
    ).set(now - 1800)
    return registry


def serve(host: str, load_port: int | None, backup_port: int | None) -> None:
    stop = threading.Event()
    if load_port is not None:
        start_http_server(load_port, addr=host, registry=load_registry(stop))
    if backup_port is not None:
        start_http_server(backup_port, addr=host, registry=backup_registry())
    try:
        while not stop.wait(3600):
            pass
    finally:
        stop.set()
