"""The workload mix: which journeys arrive how often, read from a TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loadtest.db import LoadError

DEFAULT_MIX = Path(__file__).with_name("default_mix.toml")
JOURNEYS = ("guest_browse", "guest_booking", "partner", "analyst")
GUEST_CHOICES = (
    "manage_bookings",
    "use_bonus_points",
    "add_services",
    "change_dates",
    "cancel",
    "review",
)
PAYMENT_OPTIONS = ("full", "partial", "on_arrival")


@dataclass(frozen=True)
class Mix:
    journeys: dict[str, float]
    guest: dict[str, float] = field(default_factory=dict)
    payment: dict[str, float] = field(default_factory=dict)


def _table(data: dict[str, Any], name: str, known: tuple[str, ...], where: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise LoadError(f"{where}: [{name}] must be a table")
    for key, value in table.items():
        if key not in known:
            raise LoadError(f"{where}: unknown mix entry {name}.{key} (known: {', '.join(known)})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise LoadError(f"{where}: {name}.{key} must be a number >= 0, not {value!r}")
    return table


def load_mix(path: Path | None = None) -> Mix:
    """Read and validate a mix; unknown names are refused, not ignored (typos would
    silently change the workload)."""
    path = path or DEFAULT_MIX
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise LoadError(f"cannot read the mix {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"{path}: not valid TOML: {exc}") from exc
    for key in data:
        if key not in ("journeys", "guest"):
            raise LoadError(f"{path}: unknown mix entry [{key}] (known: journeys, guest)")
    journeys = _table(data, "journeys", JOURNEYS, str(path))
    if not journeys or sum(journeys.values()) <= 0:
        raise LoadError(f"{path}: [journeys] needs at least one weight above 0")
    guest_data = dict(data.get("guest", {}))
    payment_data = {"guest": {"payment": guest_data.pop("payment", {})}}
    guest = _table({"guest": guest_data}, "guest", GUEST_CHOICES, str(path))
    for key, value in guest.items():
        if value > 1:
            raise LoadError(f"{path}: guest.{key} is a probability (0..1), not {value}")
    payment = _table(payment_data["guest"], "payment", PAYMENT_OPTIONS, f"{path} [guest]")
    defaults = load_mix_defaults() if path != DEFAULT_MIX else {}
    return Mix(
        {k: float(v) for k, v in journeys.items()},
        {**defaults.get("guest", {}), **{k: float(v) for k, v in guest.items()}},
        dict(payment) or defaults.get("payment", {"full": 1.0}),
    )


def load_mix_defaults() -> dict[str, dict[str, float]]:
    default = load_mix(DEFAULT_MIX)
    return {"guest": default.guest, "payment": default.payment}
