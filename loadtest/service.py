"""`hotel load`: run the simulated users with a metrics endpoint, print and write the report.
deploy/cli.py only parses options and calls `main`."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import uvloop
from rich.console import Console

from loadtest import report as reports
from loadtest.db import LoadError
from loadtest.metrics import Metrics
from loadtest.mix import load_mix
from loadtest.runner import Options, Result, run
from loadtest.stats import Recorder


def validate(options: Options) -> None:
    """Refuse bad numbers before anything connects."""
    if options.rate is not None and not options.rate > 0:
        raise LoadError(f"--rate must be above 0, not {options.rate:g}")
    if options.users is not None and options.users <= 0:
        raise LoadError(f"--users must be above 0, not {options.users}")
    if options.duration is not None and not options.duration > 0:
        raise LoadError(f"--duration must be above 0, not {options.duration:g}")
    if not options.drain >= 0:
        raise LoadError(f"--drain must be 0 or more, not {options.drain:g}")
    if options.connections <= 0:
        raise LoadError(f"--connections must be above 0, not {options.connections}")


async def _run(options: Options, recorder: Recorder) -> Result:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):  # the service mode ends on a signal
        loop.add_signal_handler(sig, stop.set)
    return await run(options, recorder, stop)


def main(
    options: Options,
    mix_file: Path | None,
    report_dir: Path | None,
    metrics_port: int | None,
    console: Console,
    metrics_address: str = "127.0.0.1",
) -> dict[str, Any]:
    validate(options)
    options.mix = load_mix(mix_file)
    metrics = Metrics()
    stop_metrics = None
    if metrics_port is not None:
        try:
            stop_metrics = metrics.serve(metrics_port, metrics_address)
        except OSError as exc:
            raise LoadError(
                f"cannot serve metrics on {metrics_address}:{metrics_port}: {exc.strerror}"
            ) from exc
    try:
        mode = f"{options.rate:g} arrivals/s" if options.rate else f"{options.users} users"
        length = f"{options.duration:g} s" if options.duration else "until stopped"
        console.print(f"hotel load: {mode}, {length}", highlight=False)
        result = uvloop.run(_run(options, Recorder(metrics)))
    finally:
        if stop_metrics is not None:
            stop_metrics()
    report = reports.build(result.figures, result.books, result.options, result.cpu_s)
    reports.print_report(report, console)
    if report_dir is not None:
        json_path, html_path = reports.write(report, report_dir)
        console.print(f"wrote {json_path} and {html_path}", highlight=False)
    if not result.books["balanced"]:
        raise LoadError("the books do not balance: see the bookings line above")
    return report
