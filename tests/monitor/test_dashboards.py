"""Grafana dashboards: generated from monitor/dashboards.py, committed, current."""

from __future__ import annotations

import json
import re

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


def test_every_variable_used_is_declared_and_every_table_column_has_a_unit() -> None:
    builtins = {"__rate_interval"}
    for dashboard in DASHBOARDS:
        declared = set(dashboard.variables) | builtins
        for panel in dashboard.panels:
            texts = [panel.title, *(expr for expr, _ in panel.targets)]
            used = {name for text in texts for name in re.findall(r"\$(\w+)", text)}
            assert used <= declared, f"{dashboard.uid}/{panel.title}: {used - declared}"
            assert panel.repeat is None or panel.repeat in dashboard.variables
            if panel.kind == "table":
                assert len(panel.columns) == len(panel.targets), panel.title
        model = json.loads(rendered()[dashboard.filename])
        for panel in model["panels"]:
            if panel["type"] == "table":
                renamed = panel["transformations"][1]["options"]["renameByName"]
                units = {o["matcher"]["options"] for o in panel["fieldConfig"]["overrides"]}
                assert set(renamed.values()) == units, panel["title"]
                assert all(t["instant"] and t["format"] == "table" for t in panel["targets"])
