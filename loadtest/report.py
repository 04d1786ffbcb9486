"""The run's report: a rich table in the terminal, report.json (every figure) and a
self-contained report.html whose charts are inline SVG drawn here (opens offline)."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def table(report: dict[str, Any]) -> Table:
    figures = report["figures"]
    t = Table(title=f"hotel load: {report['options']['mode']} loop, run {report['run_id']}")
    for column in ("operation", "count", "ok", "conflict", "error", "retries", "ops/s"):
        t.add_column(column, justify="left" if column == "operation" else "right")
    for column in ("p50 ms", "p95 ms", "p99 ms", "p99.9 ms", "max ms"):
        t.add_column(column, justify="right")
    rows = [*figures["operations"].items(), ("all", _total(figures))]
    for op, f in rows:
        lat = f["latency_ms"]
        t.add_row(
            op,
            str(f["count"]),
            str(f["ok"]),
            str(f["conflict"]),
            f"[red]{f['error']}[/]" if f["error"] else "0",
            str(f["retries"]),
            f"{f['ops_per_s']:.1f}",
            *(f"{lat[k]:.1f}" for k in ("p50", "p95", "p99", "p99.9", "max")),
        )
    return t


def _total(figures: dict[str, Any]) -> dict[str, Any]:
    ops = figures["operations"].values()
    return {
        "count": figures["operations_total"],
        **{k: sum(o[k] for o in ops) for k in ("ok", "conflict", "error", "retries")},
        "ops_per_s": figures["ops_per_s"],
        "latency_ms": figures["latency_ms"],
    }


def summary_lines(report: dict[str, Any]) -> list[str]:
    f, books = report["figures"], report["books"]
    lag = f["schedule_lag_ms"]
    verdict = "balanced" if books["balanced"] else "NOT BALANCED"
    lines = [
        f"{f['operations_total']} operations in {f['elapsed_s']:.1f} s = {f['ops_per_s']:.1f} "
        f"ops/s; harness CPU {report['cpu_ms_per_op']:.2f} ms per operation",
        f"arrivals {f['arrivals']}, dropped {f['dropped_arrivals']}, schedule lag p99 "
        f"{lag['p99']:.1f} ms max {lag['max']:.1f} ms",
    ]
    stopping = f.get("stopping")
    if stopping:
        lines.append(
            f"stop: arrivals for {stopping['arrivals_s']:.1f} s, then {stopping['drain_s']:.1f} s "
            f"draining {stopping['journeys_in_flight_at_stop']} journeys in flight (limit "
            f"{stopping['drain_limit_s']:g} s); {stopping['journeys_halted']} halted, "
            f"{stopping['steps_abandoned']} steps abandoned before reaching the server, "
            f"{stopping['journeys_cancelled']} cancelled"
        )
    lines.append(
        f"bookings: {books['acknowledged']} acknowledged, {books['in_database']} in the "
        f"database, {books['missing']} missing, {books['unacknowledged']} unacknowledged, "
        f"{books['duplicates']} duplicated, {books.get('in_doubt', 0)} in doubt: {verdict}"
    )
    for name in ("missing", "unacknowledged", "duplicate", "in_doubt"):
        keys = books.get(f"{name}_keys")
        if keys:
            shown = ", ".join(list(keys)[:5]) + (" ..." if len(keys) > 5 else "")
            label = name.replace("_", " ")
            lines.append(f"{label} keys ({len(keys)}, all in report.json): {shown}")
    return lines


def print_report(report: dict[str, Any], console: Console) -> None:
    # A log (docker, CI) is not 80 columns wide: do not squeeze operation names there.
    console.print(table(report), width=None if console.is_terminal else 150)
    for line in summary_lines(report):
        console.print(line, highlight=False)


def build(
    figures: dict[str, Any], books: dict[str, Any], options: dict[str, Any], cpu_s: float
) -> dict[str, Any]:
    total = figures["operations_total"]
    return {
        "run_id": options["run_id"],
        "options": options,
        "figures": figures,
        "books": books,
        "cpu_s": cpu_s,
        "cpu_ms_per_op": cpu_s * 1000 / total if total else 0.0,
    }


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
    html_path = directory / "report.html"
    html_path.write_text(render_html(report))
    return json_path, html_path


def line_chart(
    title: str, series: dict[str, list[float]], unit: str, width: int = 900, height: int = 260
) -> str:
    """An SVG line chart: one polyline per series over the run's seconds."""
    left, right, top, bottom = 60, 150, 30, 35
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max((len(v) for v in series.values()), default=0)
    peak = max((max(v, default=0.0) for v in series.values()), default=0.0) or 1.0
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img">',
        f"<title>{html.escape(title)}</title>",
        f'<text x="{left}" y="18" font-weight="bold">{html.escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" '
        'stroke="#ccc"/>',
    ]
    for i in range(5):  # horizontal grid with values
        y = top + plot_h - plot_h * i / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{peak * i / 4:.3g}</text>"
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 5}" text-anchor="middle" font-size="11">'
        f"seconds into the run (0-{max(n - 1, 0)}); {html.escape(unit)}</text>"
    )
    for k, (name, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        step = plot_w / max(n - 1, 1)
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}"
            for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline class="series" data-name="{html.escape(name)}" fill="none" '
            f'stroke="{colour}" stroke-width="1.8" points="{points}"/>'
        )
        y = top + 14 + 16 * k
        parts.append(
            f'<rect x="{left + plot_w + 12}" y="{y - 9}" width="10" height="10" '
            f'fill="{colour}"/><text x="{left + plot_w + 27}" y="{y}" font-size="12">'
            f"{html.escape(name)}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def render_html(report: dict[str, Any]) -> str:
    f = report["figures"]
    timeline = f["timeline"]
    classes = sorted({c for s in timeline for c in s["errors_by_class"]})
    charts = [
        line_chart(
            "Throughput",
            {k: [float(s[k]) for s in timeline] for k in ("ops", "ok", "conflict", "error")},
            "operations per second",
        ),
        line_chart(
            "Latency over time",
            {k: [float(s[k]) for s in timeline] for k in ("p50", "p95", "p99")},
            "milliseconds from the intended start",
        ),
        line_chart(
            "Errors over time",
            {
                f"SQLSTATE {c}": [float(s["errors_by_class"].get(c, 0)) for s in timeline]
                for c in classes
            }
            or {"none": [0.0 for _ in timeline]},
            "errors per second by SQLSTATE class (23: conflicts; conn: connection lost)",
        ),
    ]
    head = "".join(
        f"<th>{h}</th>"
        for h in (
            "operation",
            "count",
            "ok",
            "conflict",
            "error",
            "retries",
            "ops/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
        )
    )
    rows = []
    for op, o in [*f["operations"].items(), ("all", _total(f))]:
        lat = o["latency_ms"]
        cells = [
            op,
            o["count"],
            o["ok"],
            o["conflict"],
            o["error"],
            o["retries"],
            f"{o['ops_per_s']:.1f}",
            *(f"{lat[k]:.1f}" for k in ("p50", "p95", "p99", "p99.9", "max")),
        ]
        rows.append("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
    summary = "".join(f"<li>{html.escape(line)}</li>" for line in summary_lines(report))
    business = "".join(
        f"<li>{html.escape(k)}: {v:,.2f}</li>" for k, v in sorted(f["business"].items())
    )
    options = html.escape(json.dumps(report["options"]))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>hotel load {report["run_id"]}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; font-size: 13px; }}
td, th {{ border: 1px solid #ddd; padding: 3px 8px; text-align: right; }}
td:first-child, th:first-child {{ text-align: left; }}
svg {{ display: block; margin: 1em 0; font-family: system-ui, sans-serif; }}
</style></head><body>
<h1>hotel load: run {html.escape(report["run_id"])}</h1>
<p>options: <code>{options}</code></p>
<ul>{summary}</ul>
{"".join(charts)}
<h2>Per operation</h2>
<table id="operations"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>Business counters</h2><ul>{business}</ul>
</body></html>
"""
