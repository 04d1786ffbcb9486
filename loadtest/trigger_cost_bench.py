"""What each trigger of the booking path costs the server: `python -m
loadtest.trigger_cost_bench [--scale tiny] [--journeys 300] [--rounds 5]`.

One scratch platform (`hotel up`, torn down afterwards), seeded at head. A procedure on the
server writes the guest journey as the service does, one transaction per step: create a
booking; pay 30 % and confirm; pay the rest and check in; complete. No client, network or
planning in the figure: only what the writes and their triggers cost the backend, read from
/proc/PID/schedstat (nanoseconds of CPU, so a shared machine's waiting does not count).

Each row trigger of the tables the journey writes, the foreign-key checks included, is
disabled in turn (ALTER TABLE ... DISABLE TRIGGER, committed, enabled again after). Its cost
is the CPU per journey with everything on minus the CPU with it off, measured back to back
and the median taken over the rounds (the pairs cancel a shared machine's drift), nested
work included: switching off the payment's paid-state update also switches off the loyalty
credit it causes. Figures are indicative: printed with the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql
from rich.console import Console
from rich.table import Table

from hotel_models.settings import libpq_url
from seeding.bulk import load
from seeding.plan import SCALES
from seeding.scratch import scratch_platform

# The journey's writes, as the load generator's guest makes them (loadtest.queries), each
# step committed. The stays never meet: room i mod n, 3 days apart, from `start`.
JOURNEY = """
CREATE PROCEDURE pg_temp.journeys(n int, start date) LANGUAGE plpgsql AS $$
DECLARE
  rooms bigint[] := ARRAY(SELECT id FROM rooms WHERE status <> 'maintenance' ORDER BY id);
  users bigint[] := ARRAY(SELECT id FROM users ORDER BY id LIMIT 500);
  method bigint := (SELECT min(id) FROM payment_methods);
  b bigint;
BEGIN
  FOR i IN 1..n LOOP
    INSERT INTO bookings (user_id, room_id, check_in, check_out, guests, total_price)
    VALUES (users[1 + i % cardinality(users)], rooms[1 + i % cardinality(rooms)],
            start + 3 * i, start + 3 * i + 2, 1, 300)
    RETURNING id INTO b;
    COMMIT;
    INSERT INTO payments (booking_id, method_id, amount, status)
    VALUES (b, method, 90, 'completed');
    UPDATE bookings SET status = 'confirmed' WHERE id = b;
    COMMIT;
    INSERT INTO payments (booking_id, method_id, amount, status)
    VALUES (b, method, 210, 'completed');
    UPDATE bookings SET status = 'checked_in' WHERE id = b;
    COMMIT;
    UPDATE bookings SET status = 'completed' WHERE id = b;
    COMMIT;
  END LOOP;
END $$"""
TABLES = ("bookings", "payments", "bonus_transactions", "bonus_accounts")
# Row triggers (tgtype bit 0) of those tables: the service's own and the foreign-key checks
# on the referencing side (the functions that check a new or changed key).
TRIGGERS = """
SELECT c.relname, t.tgname,
       coalesce(k.conname || CASE WHEN t.tgfoid = '"RI_FKey_check_ins"'::regproc
                                  THEN ' (foreign-key check on insert)'
                                  ELSE ' (foreign-key check on update)' END, t.tgname)
FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
LEFT JOIN pg_constraint k ON k.oid = t.tgconstraint AND t.tgisinternal
WHERE c.relname = ANY(%s) AND c.relnamespace = 'public'::regnamespace
  AND t.tgtype & 1 = 1
  AND (NOT t.tgisinternal OR t.tgfoid IN ('"RI_FKey_check_ins"'::regproc,
                                          '"RI_FKey_check_upd"'::regproc))
ORDER BY 1, 3"""


@dataclass(frozen=True)
class Variant:
    label: str
    apply: str  # SQL committed before the run
    undo: str  # and after it


def _cpu_ns(pid: int) -> int:
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])


def variants(conn: psycopg.Connection) -> list[Variant]:
    found = [Variant("everything on", "", "")]
    for table, trigger, label in conn.execute(TRIGGERS, [list(TABLES)]).fetchall():
        off, on = (
            sql.SQL("ALTER TABLE {} {} TRIGGER {}")
            .format(sql.Identifier(table), sql.SQL(verb), sql.Identifier(trigger))
            .as_string(conn)
            for verb in ("DISABLE", "ENABLE")
        )
        found.append(Variant(f"{table}: {label}", off, on))
    return found


def run(url: str, variant: Variant, journeys: int) -> float:
    """Backend CPU microseconds per journey with `variant` applied."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")  # CPU is measured, not the flush
        conn.execute(JOURNEY)
        if variant.apply:
            with conn.transaction():
                conn.execute(variant.apply)
        try:
            for n in (20, journeys):  # the first call warms caches and plans
                (last,) = conn.execute("SELECT max(check_out) FROM bookings").fetchone() or ()
                before = _cpu_ns(conn.info.backend_pid)
                conn.execute("CALL pg_temp.journeys(%s, %s)", [n, last])
            return (_cpu_ns(conn.info.backend_pid) - before) / 1000 / journeys
        finally:
            if variant.undo:
                with conn.transaction():
                    conn.execute(variant.undo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="tiny")
    parser.add_argument("--journeys", type=int, default=300, help="per run")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    console = Console(width=120)
    with scratch_platform("hotel-trigger-bench-") as scratch:
        url = scratch.new_database("trigger_costs")
        with console.status(f"seeding {args.scale}"):
            load(url, SCALES[args.scale], seed=0, locale="en_US")
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE)")
            all_variants = variants(conn)
        on, *off = all_variants
        everything: list[float] = []
        costs: dict[str, list[float]] = {v.label: [] for v in off}
        for n in range(args.rounds):
            for i, variant in enumerate(off if n % 2 == 0 else off[::-1]):
                with console.status(f"round {n + 1}/{args.rounds}: {i + 1}/{len(off)}"):
                    base = run(url, on, args.journeys)
                    costs[variant.label].append(base - run(url, variant, args.journeys))
                    everything.append(base)
    base = statistics.median(everything)
    table = Table(
        title=f"backend CPU per journey ({args.scale} seed, {args.rounds} x {args.journeys})"
    )
    table.add_column("trigger")
    table.add_column("us/journey it takes", justify="right")
    table.add_column("share", justify="right")
    table.add_row("(everything on)", f"{base:.0f}", "")
    for label, pairs in costs.items():
        cost = statistics.median(pairs)
        table.add_row(label, f"{cost:+.0f}", f"{cost / base:.0%}")
    console.print(table)
    load_avg = os.getloadavg()
    console.print(f"load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}")


if __name__ == "__main__":
    main()
