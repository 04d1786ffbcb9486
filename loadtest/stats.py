"""What a run measured: per-operation HDR histograms (microseconds, 3 significant digits),
outcome counts, and a per-second timeline for the report's charts."""

from __future__ import annotations

import time
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from loadtest.metrics import Metrics

PERCENTILES = (50.0, 95.0, 99.0, 99.9)
MAX_US = 120_000_000  # two minutes: slower than that is recorded as two minutes


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, MAX_US, 3)


def summary(h: HdrHistogram) -> dict[str, float]:
    """Percentiles and max in milliseconds."""
    if h.get_total_count() == 0:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "p99.9": 0.0, "max": 0.0}
    out = {f"p{p:g}": h.get_value_at_percentile(p) / 1000 for p in PERCENTILES}
    out["max"] = h.get_max_value() / 1000
    return out


@dataclass
class Second:
    ops: Counter[str] = field(default_factory=Counter)  # outcome -> count
    sqlstates: Counter[str] = field(default_factory=Counter)
    # A second's raw latencies (us): sorting a few thousand is cheaper than walking a
    # histogram's buckets; the past keeps numbers only.
    latency: list[int] = field(default_factory=list)

    def point(self, t: int) -> dict[str, Any]:
        values = sorted(self.latency)
        lat = {
            f"p{p:g}": values[min(len(values) - 1, int(len(values) * p / 100))] / 1000
            if values
            else 0.0
            for p in (50, 95, 99)
        }
        return {
            "t": t,
            "ops": sum(self.ops.values()),
            **{k: self.ops[k] for k in ("ok", "conflict", "error")},
            "errors_by_class": dict(self.sqlstates),
            **{k: lat[k] for k in ("p50", "p95", "p99")},
        }


class Recorder:
    """Feeds Prometheus and the report from one call per finished operation."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.started = time.monotonic()
        self.histograms: dict[str, HdrHistogram] = defaultdict(_histogram)
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.errors: Counter[tuple[str, str]] = Counter()
        self.retries: Counter[str] = Counter()
        self.abandoned_steps: Counter[str] = Counter()  # never sent: the run was stopping
        # One point per second; a service running for days keeps the last day.
        self.timeline: deque[dict[str, Any]] = deque(maxlen=86_400)
        self._now = 0
        self._second_data = Second()
        self.lag = _histogram()
        self.arrivals = 0
        self.dropped = 0
        self.messages: dict[str, str] = {}  # a sample message per error kind
        self.business: dict[str, float] = defaultdict(float)

    def _second(self) -> Second:
        now = int(time.monotonic() - self.started)
        while now > self._now:  # close the past seconds, empty ones included
            self.timeline.append(self._second_data.point(self._now))
            self._second_data = Second()
            self._now += 1
        return self._second_data

    def operation(self, op: str, outcome: str, seconds: float) -> None:
        us = min(MAX_US, max(1, int(seconds * 1e6)))
        self.histograms[op].record_value(us)
        self.outcomes[op][outcome] += 1
        second = self._second()
        second.ops[outcome] += 1
        second.latency.append(us)
        self.metrics.duration.labels(op).observe(seconds)
        self.metrics.operations.labels(op, outcome).inc()

    def error(self, op: str, sqlstate_class: str, message: str) -> None:
        self.errors[(op, sqlstate_class)] += 1
        self._second().sqlstates[sqlstate_class] += 1
        self.metrics.errors.labels(op, sqlstate_class).inc()
        self.messages.setdefault(f"{op} {sqlstate_class}", message.splitlines()[0][:200])

    def retry(self, op: str) -> None:
        self.retries[op] += 1
        self.metrics.retries.labels(op).inc()

    def abandoned(self, op: str) -> None:
        self.abandoned_steps[op] += 1

    def arrival(self, lag: float, dropped: bool) -> None:
        self.arrivals += 1
        self.lag.record_value(min(MAX_US, max(1, int(lag * 1e6))))
        self.metrics.schedule_lag.observe(lag)
        if dropped:
            self.dropped += 1
            self.metrics.dropped.inc()

    def count(self, what: str, amount: float = 1) -> None:
        """Business counters: bookings, cancellations, revenue, points earned and spent."""
        if amount <= 0:
            return
        self.business[what] += amount
        counter = {
            "bookings": self.metrics.bookings,
            "cancellations": self.metrics.cancellations,
            "revenue": self.metrics.revenue,
            "points_earned": self.metrics.points_earned,
            "points_spent": self.metrics.points_spent,
        }[what]
        counter.inc(amount)

    def figures(self, elapsed: float) -> dict[str, Any]:
        """Everything the report shows, as plain data (report.json)."""
        total = sum(sum(c.values()) for c in self.outcomes.values())
        everything = _histogram()
        operations = {}
        for op in sorted(self.histograms):
            h = self.histograms[op]
            everything.add(h)
            n = sum(self.outcomes[op].values())
            operations[op] = {
                "count": n,
                "ok": self.outcomes[op]["ok"],
                "conflict": self.outcomes[op]["conflict"],
                "error": self.outcomes[op]["error"],
                "retries": self.retries[op],
                "ops_per_s": n / elapsed if elapsed else 0.0,
                "latency_ms": summary(h),
            }
        self._second()
        timeline = list(self.timeline)
        if self._second_data.ops:  # the unfinished last second, when anything ended in it
            timeline.append(self._second_data.point(self._now))
        return {
            "elapsed_s": elapsed,
            "operations_total": total,
            "ops_per_s": total / elapsed if elapsed else 0.0,
            "latency_ms": summary(everything),
            "operations": operations,
            "errors": [
                {"operation": op, "sqlstate_class": c, "count": n}
                for (op, c), n in sorted(self.errors.items())
            ],
            "error_samples": self.messages,
            "arrivals": self.arrivals,
            "dropped_arrivals": self.dropped,
            "abandoned_steps": dict(self.abandoned_steps),
            "schedule_lag_ms": summary(self.lag),
            "business": dict(self.business),
            "timeline": timeline,
        }
