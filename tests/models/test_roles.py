"""Least privilege, proven by overstepping: each statement must be refused."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.models.world import World, as_app, refused


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("CREATE TABLE sneaky (id int)", id="create-table"),
        pytest.param("ALTER TABLE bookings ADD COLUMN sneaky int", id="alter-table"),
        pytest.param("DROP TABLE reviews", id="drop-table"),
        pytest.param("TRUNCATE bookings", id="truncate"),
        pytest.param(
            "INSERT INTO audit_log (table_name, operation, row_pk) VALUES ('x', 'INSERT', '{}')",
            id="audit-insert",
        ),
        pytest.param("UPDATE audit_log SET table_name = 'x'", id="audit-update"),
        pytest.param("DELETE FROM audit_log", id="audit-delete"),
        pytest.param(
            "INSERT INTO booking_status_history (booking_id, new_status) VALUES (1, 'pending')",
            id="history-insert",
        ),
        pytest.param("DELETE FROM booking_status_history", id="history-delete"),
        pytest.param("UPDATE guest_spending SET completed = 0", id="spending-update"),
        pytest.param(
            "INSERT INTO guest_spending (user_id, completed) VALUES (1, 1)", id="spending-insert"
        ),
        pytest.param("UPDATE alembic_version SET version_num = '0001'", id="alembic-version"),
    ],
)
def test_the_service_role_cannot_overstep(session: Session, world: World, sql: str) -> None:
    as_app(session)
    refused(session, sql)


def test_the_service_role_reads_and_writes_business_tables(session: Session, world: World) -> None:
    as_app(session)
    session.execute(text("INSERT INTO amenities (name) VALUES ('Sauna')"))
    session.execute(text("UPDATE amenities SET name = 'Spa' WHERE name = 'Sauna'"))
    session.execute(text("DELETE FROM amenities WHERE name = 'Spa'"))
    assert session.execute(text("SELECT count(*) FROM hotels")).scalar_one() >= 1


@pytest.mark.parametrize(
    "sql",
    [
        pytest.param("INSERT INTO amenities (name) VALUES ('Sauna')", id="insert"),
        pytest.param("UPDATE hotels SET name = 'x'", id="update"),
        pytest.param("DELETE FROM reviews", id="delete"),
        pytest.param("CREATE TABLE sneaky (id int)", id="create-table"),
        pytest.param("TRUNCATE bookings", id="truncate"),
    ],
)
def test_an_analyst_only_reads(session: Session, world: World, sql: str) -> None:
    session.execute(text("SET LOCAL ROLE ann"))
    refused(session, sql)
    assert session.execute(text("SELECT count(*) FROM hotels")).scalar_one() >= 1
