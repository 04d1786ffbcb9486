"""Revision 0019 scrubs the password hashes the audit trigger copied before it."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, pool, text

from deploy.migrate.runner import alembic_config


def test_the_upgrade_scrubs_hashes_from_existing_audit_rows(empty_url: str) -> None:
    config = alembic_config(url=empty_url)
    command.upgrade(config, "0017")
    engine = create_engine(empty_url, poolclass=pool.NullPool)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO partner_types (id, code, name) VALUES (1, 'o', 'Owner')"))
        conn.execute(
            text(
                "INSERT INTO partners (partner_type_id, name, login, email, password_hash) "
                "VALUES (1, 'P', 'p', 'p@x.test', 'argon2$old')"
            )
        )
        conn.execute(text("UPDATE partners SET password_hash = 'argon2$new'"))
    hashes = (
        "SELECT count(*) FROM audit_log WHERE table_name = 'partners' "
        "AND (old_row ? 'password_hash' OR new_row ? 'password_hash')"
    )
    with engine.connect() as conn:
        assert conn.execute(text(hashes)).scalar_one() == 2  # what 0013's trigger kept
    command.upgrade(config, "0019")
    with engine.connect() as conn:
        assert conn.execute(text(hashes)).scalar_one() == 0
        logins = conn.execute(
            text("SELECT new_row ->> 'login' FROM audit_log WHERE table_name = 'partners'")
        ).scalars()
        assert list(logins) == ["p", "p"]  # the rest of each image is kept
    engine.dispose()
