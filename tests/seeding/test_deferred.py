"""The empty-database path of `hotel seed` drops indexes and constraints and builds them
again after the data: the schema after a seed must be exactly the migrated one, a failure
at any point must leave the database as it was, and the rules must still be checked."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import Engine, create_engine, pool, text

from deploy.migrate.snapshot import Snapshot, diff_snapshots, take_snapshot
from seeding import plan
from seeding.bulk import load
from seeding.plan import SCALES, Counts

TINY = SCALES["tiny"]
# Validity is part of the schema: an index left invalid or a key left NOT VALID would
# still print the same definition in places.
VALIDITY = """
    SELECT 'index ' || i.indexrelid::regclass::text,
           (i.indisvalid AND i.indisready AND i.indislive)::text
    FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
    WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'constraint ' || conname, convalidated::text FROM pg_constraint
    WHERE connamespace = 'public'::regnamespace ORDER BY 1"""


def snapshot(url: str) -> tuple[Snapshot, list[tuple[str, str]]]:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        result = take_snapshot(conn), [(k, v) for k, v in conn.execute(text(VALIDITY))]
    engine.dispose()
    return result


def rows(url: str) -> int:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as conn:
        count = conn.execute(
            text("SELECT (SELECT count(*) FROM hotels) + (SELECT count(*) FROM bookings)")
        ).scalar_one()
    engine.dispose()
    return int(count)


@pytest.fixture
def engine_of() -> Iterator[Callable[[str], Engine]]:
    engines: list[Engine] = []

    def make(url: str) -> Engine:
        engines.append(create_engine(url, poolclass=pool.NullPool))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def test_the_schema_after_a_seed_is_the_migrated_one(
    head_database: Callable[[], str], engine_of: Callable[[str], Engine]
) -> None:
    url = head_database()
    before, valid_before = snapshot(url)
    load(url, TINY, seed=3)
    after, valid_after = snapshot(url)
    assert not diff_snapshots(before, after), str(diff_snapshots(before, after))
    assert valid_after == valid_before
    assert all(v == "true" for _, v in valid_after)
    with engine_of(url).connect() as conn:
        # COPY FREEZE marked the pages all-visible (ANALYZE reads that from the map).
        frozen = conn.execute(
            text("SELECT relallvisible > 0 FROM pg_class WHERE relname = 'bookings'")
        ).scalar_one()
        assert conn.execute(text("SELECT count(*) FROM bookings")).scalar_one() > 500
    assert frozen


def test_append_keeps_everything_on_and_the_schema(head_database: Callable[[], str]) -> None:
    url = head_database()
    load(url, TINY, seed=3)
    before, valid_before = snapshot(url)
    load(url, Counts(hotels=2, rooms=10, users=20, bookings=50), seed=4, append=True)
    after, valid_after = snapshot(url)
    assert not diff_snapshots(before, after), str(diff_snapshots(before, after))
    assert valid_after == valid_before


@pytest.mark.parametrize("stage", ["bookings", "(indexes, constraints)"])
def test_a_failure_mid_load_leaves_the_database_as_it_was(
    head_database: Callable[[], str], stage: str
) -> None:
    """Interrupted while loading the data (indexes dropped, tables truncated) or while
    building them again: everything rolls back, the catalog included."""
    url = head_database()
    before = snapshot(url)

    def boom(table: str, _rows: int, _rate: float) -> None:
        if table == stage:
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        load(url, TINY, seed=1, progress=boom)
    assert snapshot(url) == before
    assert rows(url) == 0


def test_a_broken_rule_in_the_data_is_caught_when_the_constraint_is_built(
    head_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the exclusion constraint off during COPY, an overlap must still fail the
    seed: when the constraint is built again over the data, and nothing is committed."""
    url = head_database()
    before = snapshot(url)
    original = plan.Planner._booking
    done = []

    def overlapping(self: plan.Planner, rng, out, ids, room, user, check_in, nights):  # type: ignore[no-untyped-def]
        original(self, rng, out, ids, room, user, check_in, nights)
        if not done and plan.fields(out["bookings"][-1])[7] != "cancelled":
            done.append(True)  # the same live stay again: same room, same nights
            ids["bookings"] += 1
            while True:
                original(self, rng, out, ids, room, user, check_in, nights)
                if plan.fields(out["bookings"][-1])[7] != "cancelled":
                    break
                ids["bookings"] += 1

    monkeypatch.setattr(plan.Planner, "_booking", overlapping)
    with pytest.raises(Exception, match="ex_bookings_no_overlap"):
        load(url, TINY, seed=1)
    assert snapshot(url) == before
    assert rows(url) == 0


def test_a_constraint_that_cannot_be_rebuilt_the_same_keeps_everything_on(
    head_database: Callable[[], str], engine_of: Callable[[str], Engine]
) -> None:
    """A NOT VALID foreign key would come back validated (or stay unchecked for the new
    rows): the loader keeps every index and constraint on instead, and says nothing changed."""
    url = head_database()
    with engine_of(url).begin() as conn:
        conn.execute(
            text(
                "ALTER TABLE reviews ADD CONSTRAINT fk_reviews_room_probe FOREIGN KEY (hotel_id) "
                "REFERENCES hotels (id) NOT VALID"
            )
        )
    before = snapshot(url)
    result = load(url, TINY, seed=3)
    assert "(indexes, constraints)" not in result.tables
    assert snapshot(url) == before


def test_indexes_built_while_the_producer_generates_come_back_the_same(
    head_database: Callable[[], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """When no chunk is ready the backend builds the indexes and keys of the tables already
    loaded. The producer is held after the first bookings batch until that has happened."""
    import threading

    from seeding import bulk

    url = head_database()
    before = snapshot(url)
    built = threading.Event()
    original = bulk.generate

    def held(*args, **kwargs):  # type: ignore[no-untyped-def]
        for table, batch in original(*args, **kwargs):
            yield table, batch
            if table == "bookings" and not built.is_set():
                assert built.wait(120), "no early build while the producer waited"

    def progress(table: str, _rows: int, _rate: float) -> None:
        if table == bulk.EARLY:
            built.set()

    monkeypatch.setattr(bulk, "generate", held)
    result = load(url, TINY, seed=5, progress=progress)
    assert built.is_set()
    assert bulk.EARLY in result.tables
    after = snapshot(url)
    assert not diff_snapshots(before[0], after[0]), str(diff_snapshots(before[0], after[0]))
    assert after[1] == before[1]
