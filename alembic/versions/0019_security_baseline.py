"""Security baseline: what a logged-in role may reach, proven by the attacks in tests/models.

Revision ID: 0019
Revises: 0018

- PUBLIC loses TEMP and CONNECT on this database; hotel_app, analytic and pg_monitor (the
  monitoring logins read statistics in it) get CONNECT back.
  With TEMP, hotel_app could create a temporary table with a trigger of its own (a pg_temp
  function): code it writes, running inside the rules' trigger chain.
- The bonus balance guard no longer trusts trigger depth (a temporary trigger ran a direct
  UPDATE at depth 2, where the ledger's own update runs): a balance changes only as
  hotel_owner, which is who the ledger function now runs as (SECURITY DEFINER; EXECUTE
  revoked from PUBLIC so nobody attaches it to a table of their own).
- analytic reads no secret column (name matching hotel_models.roles.SECRET_COLUMN:
  users.password_hash, partners.password_hash): table SELECT becomes column SELECT on the
  others, and an event trigger does the same for every table or view created or altered
  later (the default privileges grant analytic whole tables).
- audit rows carry no secret column either: audit_row() strips them, and the rows already
  written are scrubbed here (their old values stay in backups taken before this revision).
  The scrub cannot be undone: the downgrade restores the functions, not the hashes.
"""

from collections.abc import Sequence

from alembic import op

from hotel_models import roles

revision: str = "0019"
down_revision: str | Sequence[str] | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP = roles.quote_ident(roles.HOTEL_APP)
ANALYTIC = roles.quote_ident(roles.ANALYTIC)
SECRET = roles.quote_literal(roles.SECRET_COLUMN)

# GRANT ... ON DATABASE takes a name, not current_database(): format() quotes it.
ON_DATABASE = """
DO $$ BEGIN
  EXECUTE format('{statement}', current_database());
END $$"""

GUARD = """
CREATE OR REPLACE FUNCTION bonus_accounts_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  IF current_user <> 'hotel_owner' AND (
       (TG_OP = 'INSERT' AND NEW.balance <> 0)
       OR (TG_OP = 'UPDATE' AND NEW.balance <> OLD.balance)) THEN
    RAISE EXCEPTION 'a bonus balance changes only through ledger entries'
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'bonus_ledger_append_only';
  END IF;
  RETURN NEW;
END $$"""

# 0011's guard, restored by the downgrade.
DEPTH_GUARD = """
CREATE OR REPLACE FUNCTION bonus_accounts_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  IF pg_trigger_depth() = 1 AND (
       (TG_OP = 'INSERT' AND NEW.balance <> 0)
       OR (TG_OP = 'UPDATE' AND NEW.balance <> OLD.balance)) THEN
    RAISE EXCEPTION 'a bonus balance changes only through ledger entries'
      USING ERRCODE = 'restrict_violation', CONSTRAINT = 'bonus_ledger_append_only';
  END IF;
  RETURN NEW;
END $$"""

STRIP_SECRETS = f"""
CREATE FUNCTION strip_secrets(image jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE
SET search_path = public, pg_temp AS $$
  SELECT image - ARRAY(SELECT k FROM jsonb_object_keys(image) AS k WHERE k ~ {SECRET})
$$"""

# SECURITY INVOKER and callable by all: it only ever narrows analytic's grants, on tables
# its caller may grant on (the event trigger runs it as whoever issued the DDL).
HIDE_SECRET_COLUMNS = f"""
CREATE FUNCTION hide_secret_columns(rel regclass) RETURNS void LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  readable text;
BEGIN
  -- No analytic role (a restore into a server without the platform's roles): nothing to hide.
  IF to_regrole('analytic') IS NULL OR NOT has_table_privilege('analytic', rel, 'SELECT')
     OR NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = rel AND attnum > 0
                    AND NOT attisdropped AND attname ~ {SECRET}) THEN
    RETURN;
  END IF;
  SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO readable
  FROM pg_attribute
  WHERE attrelid = rel AND attnum > 0 AND NOT attisdropped AND attname !~ {SECRET};
  EXECUTE format('REVOKE SELECT ON %s FROM analytic', rel);
  IF readable IS NOT NULL THEN
    EXECUTE format('GRANT SELECT (%s) ON %s TO analytic', readable, rel);
  END IF;
END $$"""

ON_DDL = """
CREATE FUNCTION hide_secret_columns_on_ddl() RETURNS event_trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  rel oid;
BEGIN
  FOR rel IN SELECT DISTINCT c.oid FROM pg_event_trigger_ddl_commands() AS d
             JOIN pg_class c ON c.oid = d.objid
             WHERE d.classid = 'pg_class'::regclass AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  LOOP
    PERFORM hide_secret_columns(rel);
  END LOOP;
END $$"""

DDL_TAGS = (
    "'CREATE TABLE', 'CREATE TABLE AS', 'SELECT INTO', 'ALTER TABLE', 'CREATE VIEW', "
    "'CREATE MATERIALIZED VIEW', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE'"
)

USER_RELATIONS = (
    "SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace "
    "AND c.relkind IN ('r', 'p', 'v', 'm', 'f')"
)

AUDIT_ROW = """
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  old_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN {old} END;
  new_image jsonb := CASE WHEN TG_OP <> 'DELETE' THEN {new} END;
BEGIN
  INSERT INTO audit_log (table_name, operation, row_pk, old_row, new_row, db_role)
  VALUES (TG_TABLE_NAME, TG_OP::audit_operation,
          (SELECT jsonb_object_agg(k, coalesce(new_image, old_image) -> k)
           FROM unnest(TG_ARGV) AS k),
          old_image, new_image, invoking_role());
  RETURN NULL;
END $$"""

SCRUB = f"""
UPDATE audit_log SET old_row = strip_secrets(old_row), new_row = strip_secrets(new_row)
WHERE table_name IN (SELECT DISTINCT c.relname FROM pg_attribute a
                     JOIN pg_class c ON c.oid = a.attrelid
                     WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0
                       AND NOT a.attisdropped AND a.attname ~ {SECRET})
  AND (old_row IS DISTINCT FROM strip_secrets(old_row)
       OR new_row IS DISTINCT FROM strip_secrets(new_row))"""


def upgrade() -> None:
    op.execute(ON_DATABASE.format(statement="REVOKE TEMPORARY, CONNECT ON DATABASE %I FROM PUBLIC"))
    op.execute(
        ON_DATABASE.format(
            statement=f"GRANT CONNECT ON DATABASE %I TO {APP}, {ANALYTIC}, pg_monitor"
        )
    )

    op.execute(GUARD)
    op.execute("ALTER FUNCTION bonus_ledger_apply() OWNER TO hotel_owner")
    op.execute("ALTER FUNCTION bonus_ledger_apply() SECURITY DEFINER")
    op.execute("REVOKE EXECUTE ON FUNCTION bonus_ledger_apply() FROM PUBLIC")

    op.execute(STRIP_SECRETS)
    op.execute(HIDE_SECRET_COLUMNS)
    op.execute(f"SELECT hide_secret_columns(rel) FROM ({USER_RELATIONS}) AS r(rel)")
    op.execute(ON_DDL)
    op.execute(
        "CREATE EVENT TRIGGER hide_secret_columns ON ddl_command_end "
        f"WHEN TAG IN ({DDL_TAGS}) EXECUTE FUNCTION hide_secret_columns_on_ddl()"
    )

    op.execute(
        AUDIT_ROW.format(old="strip_secrets(to_jsonb(OLD))", new="strip_secrets(to_jsonb(NEW))")
    )
    op.execute(SCRUB)


def downgrade() -> None:
    op.execute(AUDIT_ROW.format(old="to_jsonb(OLD)", new="to_jsonb(NEW)"))

    op.execute("DROP EVENT TRIGGER hide_secret_columns")
    op.execute("DROP FUNCTION hide_secret_columns_on_ddl()")
    # Tables analytic reads column by column go back to a table grant (0004's state); a
    # table-level REVOKE also takes the column grants away.
    op.execute(
        f"""DO $$ DECLARE rel regclass; BEGIN
          FOR rel IN {USER_RELATIONS} AND NOT has_table_privilege('analytic', c.oid, 'SELECT')
            AND has_any_column_privilege('analytic', c.oid, 'SELECT')
          LOOP
            EXECUTE format('REVOKE SELECT ON %s FROM analytic', rel);
            EXECUTE format('GRANT SELECT ON %s TO analytic', rel);
          END LOOP; END $$"""
    )
    op.execute("DROP FUNCTION hide_secret_columns(regclass)")
    op.execute("DROP FUNCTION strip_secrets(jsonb)")

    op.execute("GRANT EXECUTE ON FUNCTION bonus_ledger_apply() TO PUBLIC")
    op.execute("ALTER FUNCTION bonus_ledger_apply() SECURITY INVOKER")
    op.execute("ALTER FUNCTION bonus_ledger_apply() OWNER TO CURRENT_USER")
    op.execute(DEPTH_GUARD)

    op.execute(
        ON_DATABASE.format(
            statement=f"REVOKE CONNECT ON DATABASE %I FROM {APP}, {ANALYTIC}, pg_monitor"
        )
    )
    op.execute(ON_DATABASE.format(statement="GRANT TEMPORARY, CONNECT ON DATABASE %I TO PUBLIC"))
