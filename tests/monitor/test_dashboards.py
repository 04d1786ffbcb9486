"""Grafana dashboards: generated from monitor/dashboards.py, committed, current."""

from __future__ import annotations

import json

from monitor.dashboards import DASHBOARDS, dashboards_dir, rendered


def test_committed_dashboards_are_current() -> None:
    committed = {path.name: path.read_text() for path in dashboards_dir().glob("*.json")}
    assert committed == rendered(), "run `hotel cluster render-compose`"


def test_panels_use_the_provisioned_datasource_and_do_not_overlap() -> None:
    for dashboard in DASHBOARDS:
        model = json.loads(rendered()[dashboard.filename])
        cells = set()
        for panel in model["panels"]:
            assert panel["datasource"]["uid"] == "prometheus"
            assert panel["targets"], panel["title"]
            grid = panel["gridPos"]
            for x in range(grid["x"], grid["x"] + grid["w"]):
                for y in range(grid["y"], grid["y"] + grid["h"]):
                    assert (x, y) not in cells, f"{panel['title']} overlaps"
                    cells.add((x, y))
            assert max(x for x, _ in cells) < 24


def test_titles_and_uids_are_unique() -> None:
    uids = [d.uid for d in DASHBOARDS]
    assert len(uids) == len(set(uids))
    for dashboard in DASHBOARDS:
        titles = [p.title for p in dashboard.panels]
        assert len(titles) == len(set(titles)), dashboard.title
