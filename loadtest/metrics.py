"""Prometheus metrics of the load generator. The names are a contract: dashboards and alert
rules are written against them, so change them only together (docs/architecture.md lists them).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

# 1 ms .. 10 s: an operation's latency from its intended start.
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)
LAG_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10)

OUTCOMES = ("ok", "conflict", "error")


class Metrics:
    """One registry per run, so several runs in one process (tests) do not collide."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.duration = Histogram(
            "hotel_load_operation_duration_seconds",
            "Latency of one journey step, measured from its intended start",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.operations = Counter(
            "hotel_load_operations",
            "Finished journey steps by outcome (ok, conflict: a business rule refused, error)",
            ["operation", "outcome"],
            registry=r,
        )
        self.errors = Counter(
            "hotel_load_errors",
            "Database errors by SQLSTATE class (conn: connection lost), retried ones included",
            ["operation", "sqlstate_class"],
            registry=r,
        )
        self.retries = Counter(
            "hotel_load_retries",
            "Attempts repeated after a transient error",
            ["operation"],
            registry=r,
        )
        self.in_flight = Gauge(
            "hotel_load_in_flight",
            "Journey steps running or waiting for a connection",
            registry=r,
        )
        self.schedule_lag = Histogram(
            "hotel_load_schedule_lag_seconds",
            "How late an arrival started compared with its schedule (open loop)",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.dropped = Counter(
            "hotel_load_dropped_arrivals",
            "Arrivals not started because the in-flight limit was reached (open loop)",
            registry=r,
        )
        self.bookings = Counter("hotel_load_bookings", "Bookings acknowledged", registry=r)
        self.cancellations = Counter("hotel_load_cancellations", "Bookings cancelled", registry=r)
        self.revenue = Counter(
            "hotel_load_revenue", "Completed payments, currency units", registry=r
        )
        self.points_earned = Counter(
            "hotel_load_points_earned", "Bonus points credited for paid bookings", registry=r
        )
        self.points_spent = Counter(
            "hotel_load_points_spent", "Bonus points spent on bookings", registry=r
        )

    def serve(self, port: int, addr: str = "127.0.0.1") -> Callable[[], None]:
        """Expose /metrics on `addr` (this machine only unless HOTEL_LOAD_METRICS_ADDRESS
        opens it: compose's Prometheus scrapes the container); returns the function that
        stops the server."""
        server, thread = start_http_server(port, addr=addr, registry=self.registry)

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(5)

        return stop
