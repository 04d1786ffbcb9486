"""What the load tests share besides fixtures: a mix with every journey, the short run's
figures, and a run from synchronous code."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from loadtest.metrics import Metrics
from loadtest.mix import Mix
from loadtest.runner import Options, Result, run
from loadtest.stats import Recorder

# Every journey and every branch of the guest journey, often.
EVERYTHING = Mix(
    journeys={"guest_browse": 10, "guest_booking": 50, "partner": 20, "analyst": 20},
    guest={
        "manage_bookings": 0.5,
        "use_bonus_points": 1.0,
        "add_services": 0.7,
        "change_dates": 0.4,
        "cancel": 0.3,
        "review": 1.0,
    },
    payment={"full": 1, "partial": 1, "on_arrival": 1},
)


@dataclass
class ShortRun:
    result: Result
    scrape: str  # /metrics text taken in the middle of the run
    metrics: Metrics


def run_sync(options: Options, metrics: Metrics | None = None, **kw: Any) -> Result:
    return asyncio.run(run(options, Recorder(metrics or Metrics()), **kw))
