"""Backup metrics for Prometheus: a textfile (node_exporter's textfile collector, written
atomically) and, while scheduling, an HTTP endpoint. Other components (alerts, dashboards)
depend on these names exactly; docs/operations.md ("Backups") says what each one means.

Each run is a separate process, so the state behind the gauges and counters is kept in a
JSON file beside the textfile and loaded again before the next run is recorded.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    write_to_textfile,
)

# The *_created series of counters mean nothing for a counter restored from a file each run.
disable_created_metrics()
TYPES = ("full", "diff", "incr", "logical", "verify")


@dataclass
class BackupMetrics:
    path: Path  # <state>/metrics/backup.prom
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.last_success = Gauge(
            "hotel_backup_last_success_timestamp_seconds",
            "Unix time of the last successful backup of this type.",
            ["type"],
            registry=r,
        )
        self.last_duration = Gauge(
            "hotel_backup_last_duration_seconds",
            "Duration of the last backup run of this type (success or not).",
            ["type"],
            registry=r,
        )
        self.last_size = Gauge(
            "hotel_backup_last_size_bytes",
            "Bytes the last successful backup of this type added to the repository.",
            ["type"],
            registry=r,
        )
        self.last_result = Gauge(
            "hotel_backup_last_result",
            "Result of the last backup run of this type: 1 success, 0 failure.",
            ["type"],
            registry=r,
        )
        self.runs = Counter(
            "hotel_backup_runs",
            "Backup runs by type and result (success, failure).",
            ["type", "result"],
            registry=r,
        )
        self.last_verified = Gauge(
            "hotel_backup_last_verified_timestamp_seconds",
            "Unix time of the last backup that passed a real restore and its checks.",
            registry=r,
        )
        self._load()

    @property
    def _state_file(self) -> Path:
        return self.path.with_suffix(".state.json")

    def _load(self) -> None:
        try:
            state = json.loads(self._state_file.read_text())
        except (OSError, ValueError):
            return
        for name, gauge in self._gauges().items():
            for kind, value in state.get(name, {}).items():
                gauge.labels(kind).set(value)
        for key, value in state.get("runs", {}).items():
            kind, result = key.split("/")
            self.runs.labels(kind, result).inc(value)
        if state.get("last_verified"):
            self.last_verified.set(state["last_verified"])

    def _gauges(self) -> dict[str, Gauge]:
        return {
            "last_success": self.last_success,
            "last_duration": self.last_duration,
            "last_size": self.last_size,
            "last_result": self.last_result,
        }

    def _value(self, name: str, labels: dict[str, str]) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def publish(self) -> None:
        state: dict[str, object] = {}
        for name, gauge in self._gauges().items():
            metric = gauge._name
            state[name] = {
                kind: value
                for kind in TYPES
                if (value := self._value(metric, {"type": kind})) is not None
            }
        runs = {}
        for kind in TYPES:
            for result in ("success", "failure"):
                value = self._value("hotel_backup_runs_total", {"type": kind, "result": result})
                if value:
                    runs[f"{kind}/{result}"] = value
        state["runs"] = runs
        state["last_verified"] = self._value("hotel_backup_last_verified_timestamp_seconds", {})
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state))
        tmp.replace(self._state_file)
        write_to_textfile(str(self.path), self.registry)  # tmp file + rename: atomic

    def record(self, kind: str, ok: bool, duration: float, size: int | None = None) -> None:
        self.last_duration.labels(kind).set(duration)
        self.last_result.labels(kind).set(1 if ok else 0)
        self.runs.labels(kind, "success" if ok else "failure").inc()
        if ok:
            self.last_success.labels(kind).set(time.time())
            if size is not None:
                self.last_size.labels(kind).set(size)
        self.publish()

    def verified(self) -> None:
        self.last_verified.set(time.time())
        self.publish()
