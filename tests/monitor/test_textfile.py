"""The textfile exporter re-exposes backup.prom as written; a broken file is reported."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from monitor.textfile import TextfileCollector

BACKUP_PROM = """\
# HELP hotel_backup_last_success_timestamp_seconds When the last successful backup ended.
# TYPE hotel_backup_last_success_timestamp_seconds gauge
hotel_backup_last_success_timestamp_seconds{type="full"} 1.7e+09
# HELP hotel_backup_runs_total Backup runs.
# TYPE hotel_backup_runs_total counter
hotel_backup_runs_total{type="full",result="success"} 3.0
"""


def scrape(directory: Path) -> str:
    registry = CollectorRegistry()
    registry.register(TextfileCollector(directory))
    return generate_latest(registry).decode()


def test_families_are_served_as_written(tmp_path: Path) -> None:
    (tmp_path / "backup.prom").write_text(BACKUP_PROM)
    text = scrape(tmp_path)
    assert 'hotel_backup_last_success_timestamp_seconds{type="full"} 1.7e+09' in text
    assert 'hotel_backup_runs_total{result="success",type="full"} 3.0' in text
    assert 'hotel_textfile_error{file="backup.prom"} 0.0' in text


def test_a_broken_file_is_reported_and_the_others_still_served(tmp_path: Path) -> None:
    (tmp_path / "backup.prom").write_text(BACKUP_PROM)
    (tmp_path / "broken.prom").write_text("hotel_half_written{type=")
    text = scrape(tmp_path)
    assert 'hotel_textfile_error{file="broken.prom"} 1.0' in text
    assert "hotel_backup_runs_total" in text


def test_no_directory_serves_only_the_empty_families(tmp_path: Path) -> None:
    assert "hotel_backup" not in scrape(tmp_path / "missing")
