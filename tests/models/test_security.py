"""The attacks of the security review, attempted against head (revision 0019 stops them)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy import create_engine, pool, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from hotel_models import roles
from hotel_models.settings import get_settings
from tests.models.world import World, as_app, refused, violates


def on_database(session: Session, statement: str) -> None:
    session.execute(text(f"DO $$ BEGIN EXECUTE format('{statement}', current_database()); END $$"))


def balance(session: Session, world: World) -> int:
    return int(
        session.execute(
            text("SELECT balance FROM bonus_accounts WHERE id = :a"), {"a": world.account.id}
        ).scalar_one()
    )


def test_public_keeps_no_temp_or_connect_on_the_database(session: Session) -> None:
    acl = session.execute(
        text(
            "SELECT array_agg(a.privilege_type ORDER BY 1) FROM pg_database d, "
            "aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a "
            "WHERE d.datname = current_database() AND a.grantee = 0"
        )
    ).scalar_one()
    assert acl is None
    as_app(session)
    refused(session, "CREATE TEMP TABLE sneaky (id int)")


def test_a_temporary_trigger_cannot_move_a_balance(session: Session, world: World) -> None:
    """The attack of the review, with TEMP given back to hotel_app so the guard itself is
    tried: a pg_temp trigger updates the balance one trigger level down (depth 2)."""
    on_database(session, "GRANT TEMPORARY ON DATABASE %I TO hotel_app")
    as_app(session)
    session.execute(text("CREATE TEMP TABLE lever (account bigint)"))
    session.execute(
        text(
            "CREATE FUNCTION pg_temp.pull() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "UPDATE public.bonus_accounts SET balance = balance + 1000000 "
            "WHERE id = NEW.account; RETURN NEW; END $$"
        )
    )
    session.execute(
        text(
            "CREATE TRIGGER pull AFTER INSERT ON pg_temp.lever "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.pull()"
        )
    )
    with violates(session, "bonus_ledger_append_only"):
        session.execute(text("INSERT INTO lever VALUES (:a)"), {"a": world.account.id})
    assert balance(session, world) == 0


def test_the_ledger_function_cannot_be_attached_to_a_table_of_ones_own(
    session: Session, world: World
) -> None:
    """It runs as hotel_owner, the one role the guard lets change a balance."""
    on_database(session, "GRANT TEMPORARY ON DATABASE %I TO hotel_app")
    as_app(session)
    session.execute(text("CREATE TEMP TABLE lever (account_id bigint, amount int)"))
    refused(
        session,
        "CREATE TRIGGER pull AFTER INSERT ON pg_temp.lever "
        "FOR EACH ROW EXECUTE FUNCTION public.bonus_ledger_apply()",
    )


def test_the_ledger_still_moves_balances(session: Session, world: World) -> None:
    as_app(session)
    session.execute(
        text("INSERT INTO bonus_transactions (account_id, amount, kind) VALUES (:a, 25, 'promo')"),
        {"a": world.account.id},
    )
    assert balance(session, world) == 25
    with violates(session, "bonus_ledger_append_only"):
        session.execute(text("UPDATE bonus_accounts SET balance = 99"))


@pytest.mark.parametrize("table", ["users", "partners"])
def test_an_analyst_cannot_read_password_hashes(session: Session, world: World, table: str) -> None:
    session.execute(text("SET LOCAL ROLE ann"))
    refused(session, f"SELECT password_hash FROM {table}")
    refused(session, f"SELECT * FROM {table}")
    assert session.execute(text(f"SELECT count(email) FROM {table}")).scalar_one() >= 1


def test_no_column_analysts_read_is_a_secret(session: Session) -> None:
    readable = session.execute(
        text(
            "SELECT c.relname || '.' || a.attname FROM pg_attribute a "
            "JOIN pg_class c ON c.oid = a.attrelid "
            "WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 "
            "AND NOT a.attisdropped AND a.attname ~ :secret "
            "AND has_column_privilege('analytic', c.oid, a.attnum, 'SELECT')"
        ),
        {"secret": roles.SECRET_COLUMN},
    ).scalars()
    assert list(readable) == []


def test_tables_created_or_altered_later_hide_their_secrets(session: Session) -> None:
    """The default privileges give analytic every new table whole; the event trigger takes
    the secret columns back, for tables, views and added columns alike."""
    session.execute(text("CREATE TABLE api_clients (id int, name text, api_token text)"))
    session.execute(text("CREATE VIEW partner_logins AS SELECT login, password_hash FROM partners"))
    session.execute(text("ALTER TABLE users ADD COLUMN secret_note text"))
    session.execute(text("SET LOCAL ROLE ann"))
    for sql in (
        "SELECT api_token FROM api_clients",
        "SELECT password_hash FROM partner_logins",
        "SELECT secret_note FROM users",
    ):
        refused(session, sql)
    session.execute(text("SELECT name FROM api_clients"))
    session.execute(text("SELECT login FROM partner_logins"))
    session.execute(text("SELECT email FROM users"))


def test_audit_rows_never_carry_a_password_hash(session: Session, world: World) -> None:
    as_app(session)
    session.execute(
        text("UPDATE users SET password_hash = 'new-hash' WHERE id = :u"), {"u": world.guest.id}
    )
    session.execute(text("RESET ROLE"))
    images = session.execute(
        text(
            "SELECT old_row, new_row FROM audit_log WHERE table_name IN ('users', 'partners') "
            "AND txid = txid_current()"
        )
    ).all()
    assert len(images) == 4  # two guests and a partner inserted, one guest updated
    for old, new in images:
        for image in (old, new):
            assert image is None or "password_hash" not in image
    assert any(new and new.get("email") == world.guest.email for _, new in images)


def test_a_secret_column_added_later_never_reaches_the_audit(
    session: Session, world: World
) -> None:
    """A redacted table's audit finds its secret columns in each row it writes, not in a
    list made once: a column named like a secret, added after every revision, is stripped."""
    session.execute(text("ALTER TABLE users ADD COLUMN api_token text"))
    session.execute(
        text("UPDATE users SET api_token = 'leak', last_name = last_name || '!' WHERE id = :u"),
        {"u": world.guest.id},
    )
    row_pk, old, new = session.execute(
        text(
            "SELECT row_pk, old_row, new_row FROM audit_log WHERE table_name = 'users' "
            "AND operation = 'UPDATE' AND txid = txid_current()"
        )
    ).one()
    assert row_pk == {"id": world.guest.id}
    assert new["last_name"].endswith("!")
    assert "api_token" not in old
    assert "api_token" not in new
    assert "password_hash" not in new


@pytest.mark.parametrize(
    "ddl",
    [
        pytest.param("ALTER TABLE hotels ADD COLUMN api_token text", id="add-column"),
        pytest.param("ALTER TABLE rooms RENAME COLUMN number TO secret_number", id="rename"),
        pytest.param(
            "CREATE TRIGGER audit_whole AFTER UPDATE ON users "
            "FOR EACH ROW EXECUTE FUNCTION audit_row('id')",
            id="whole-audit-of-a-secret-table",
        ),
        pytest.param(
            "CREATE TABLE api_clients (id int PRIMARY KEY, client_secret text); "
            "CREATE TRIGGER audit AFTER INSERT ON api_clients "
            "FOR EACH ROW EXECUTE FUNCTION audit_row('id')",
            id="new-table",
        ),
    ],
)
def test_a_table_audited_whole_cannot_get_a_secret_column(session: Session, ddl: str) -> None:
    """audit_row() copies rows whole (no per-row lookup, revision 0026): every way of giving
    a table it audits a secret column is refused, and the command leaves nothing behind."""
    before = session.execute(text("SELECT count(*) FROM pg_attribute")).scalar_one()
    with (
        pytest.raises(DBAPIError, match="audited whole by audit_row") as caught,
        session.begin_nested(),
    ):
        session.execute(text(ddl))
    assert "audit_row_redacted()" in str(caught.value)
    assert session.execute(text("SELECT count(*) FROM pg_attribute")).scalar_one() == before


def test_a_table_audited_with_redaction_may_have_secrets(session: Session) -> None:
    session.execute(text("CREATE TABLE api_clients (id int PRIMARY KEY, client_secret text)"))
    session.execute(
        text(
            "CREATE TRIGGER audit AFTER INSERT ON api_clients "
            "FOR EACH ROW EXECUTE FUNCTION audit_row_redacted('id')"
        )
    )
    session.execute(text("INSERT INTO api_clients VALUES (7, 's3cr3t')"))
    new = session.execute(
        text("SELECT new_row FROM audit_log WHERE table_name = 'api_clients'")
    ).scalar_one()
    assert new == {"id": 7}


@pytest.fixture
def stranger(head_url: str) -> Iterator[tuple[str, str]]:
    """A login role granted nothing: what PUBLIC may do, it may do."""
    name, password = f"stranger_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    engine = create_engine(head_url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE ROLE {name} LOGIN PASSWORD '{password}'"))
    try:
        yield name, password
    finally:
        with engine.begin() as conn:
            conn.execute(text(f"DROP ROLE {name}"))
        engine.dispose()


def libpq(url: str, user: str, password: str) -> str:
    return (
        make_url(url)
        .set(drivername="postgresql", username=user, password=password)
        .render_as_string(hide_password=False)
    )


def test_a_role_granted_nothing_cannot_connect(head_url: str, stranger: tuple[str, str]) -> None:
    with pytest.raises(psycopg.OperationalError, match="does not have CONNECT privilege"):
        psycopg.connect(libpq(head_url, *stranger), connect_timeout=5).close()


def test_an_analyst_connects_with_a_timeout_and_a_connection_limit(head_url: str) -> None:
    settings = get_settings()
    password = settings.analyst_password("ann")
    assert password is not None
    limit = settings.analyst_connection_limit
    conns = [psycopg.connect(libpq(head_url, "ann", password)) for _ in range(limit)]
    try:
        timeout = conns[0].execute("SHOW statement_timeout").fetchone()
        assert timeout == (settings.analyst_statement_timeout,)
        with pytest.raises(psycopg.OperationalError, match="too many connections for role"):
            psycopg.connect(libpq(head_url, "ann", password)).close()
    finally:
        for conn in conns:
            conn.close()


def test_ddl_still_works_where_the_analytic_role_is_missing(session: Session) -> None:
    """A restore into a server without the platform's roles runs its DDL through the event
    trigger too: it must not fail on the missing role (renamed here, rolled back after)."""
    session.execute(text("ALTER ROLE analytic RENAME TO analytic_away"))
    session.execute(text("CREATE TABLE api_keys (id int, api_token text)"))
    session.execute(text("ALTER TABLE users ADD COLUMN secret_note text"))
