"""The report opens offline in a real headless Chromium and its charts are drawn."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from loadtest import report as reports
from tests.loadtest.runs import ShortRun


def test_report_renders_in_chromium(short_run: ShortRun, tmp_path: Path) -> None:
    r = short_run.result
    report = reports.build(r.figures, r.books, r.options, r.cpu_s)
    json_path, html_path = reports.write(report, tmp_path / "report")
    assert json.loads(json_path.read_text())["books"]["balanced"] is True
    page = html_path.read_text()
    assert not re.search(r"(src|href)=\"https?:", page), "the report must not fetch anything"
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: bash deploy/bootstrap.sh installs it"
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            html_path.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    charts = re.findall(r'<svg class="chart".*?</svg>', dom, re.S)
    assert len(charts) == 3, dom[:500]
    throughput = re.search(r'data-name="ops"[^>]*points="([^"]+)"', charts[0])
    assert throughput is not None
    points = [tuple(map(float, p.split(","))) for p in throughput.group(1).split()]
    assert len(points) >= 4
    assert len({y for _, y in points}) > 1, "a flat throughput line: no data was drawn"
    assert "<td>create_booking</td>" in dom
