"""What stripping secret columns from audit rows (revision 0019) costs create_booking: median
latency with 0019's audit_row() vs 0013's (whole rows), in one run, in a scratch database on a
throwaway embedded server (or HOTEL_TEST_DATABASE_URL's server).

    .venv/bin/python -m tests.bench_audit_secrets [--bookings 300]

Rounds alternate the two definitions so drift hits both sides alike; a create_booking writes
about six audited rows (booking, service, status history, ledger entry, balance, ...).
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import statistics

from sqlalchemy import Engine

from deploy.migrate.runner import PROJECT_ROOT
from tests.bench_triggers import alternating_rounds, quantile


def audit_row_definitions() -> dict[str, str]:
    path = PROJECT_ROOT / "alembic/versions/0019_security_baseline.py"
    spec = importlib.util.spec_from_file_location("rev0019", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    template: str = module.AUDIT_ROW
    return {
        "stripped (0019)": template.format(
            old="strip_secrets(to_jsonb(OLD))", new="strip_secrets(to_jsonb(NEW))"
        ),
        "whole rows (0013)": template.format(old="to_jsonb(OLD)", new="to_jsonb(NEW)"),
    }


def use(engine: Engine, definition: str) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(definition)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=300, help="bookings per side")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds")
    args = parser.parse_args()
    definitions = audit_row_definitions()
    sides = {name: functools.partial(use, definition=sql) for name, sql in definitions.items()}
    samples = alternating_rounds(sides, args.bookings, args.rounds)
    (new_name, new), (old_name, old) = samples.items()
    new_median, old_median = statistics.median(new), statistics.median(old)
    print(f"create_booking, {len(new)} bookings per side, median latency:")
    print(f"  audit_row {new_name:<17}: {new_median:6.2f} ms  (p90 {quantile(new):.2f} ms)")
    print(f"  audit_row {old_name:<17}: {old_median:6.2f} ms  (p90 {quantile(old):.2f} ms)")
    print(f"  ratio stripped / whole: {new_median / old_median:.3f}")


if __name__ == "__main__":
    main()
