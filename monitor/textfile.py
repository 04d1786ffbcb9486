"""Serve Prometheus text files (`<state_dir>/metrics/*.prom`) over HTTP.

The backup tooling writes its metrics to `<state_dir>/metrics/backup.prom` after every run and
serves them on a port only while its scheduler runs. Prometheus cannot read a file, so on the
local stack, when nothing listens on the backup port, this re-exposes the files: a one-off
`hotel backup` is then visible too (node_exporter's textfile collector, without
node_exporter). Files are parsed at scrape time; a file that does not parse is reported in
hotel_textfile_error{file} and skipped, so a half-written file never breaks the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector


class TextfileCollector(Collector):
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def collect(self) -> Iterator[Metric]:
        errors = GaugeMetricFamily(
            "hotel_textfile_error", "1 if the file could not be read or parsed.", labels=["file"]
        )
        mtimes = GaugeMetricFamily(
            "hotel_textfile_mtime_seconds", "When the file was last written.", labels=["file"]
        )
        for path in sorted(self.directory.glob("*.prom")):
            try:
                families = list(text_string_to_metric_families(path.read_text()))
                mtimes.add_metric([path.name], path.stat().st_mtime)
            except (OSError, ValueError):
                errors.add_metric([path.name], 1.0)
                continue
            errors.add_metric([path.name], 0.0)
            yield from families
        yield errors
        yield mtimes


def serve(directory: Path, host: str, port: int) -> None:
    registry = CollectorRegistry()
    registry.register(TextfileCollector(directory))
    server, thread = start_http_server(port, addr=host, registry=registry)
    try:
        thread.join()
    finally:
        server.shutdown()
