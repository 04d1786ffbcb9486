"""The audit looks for secret columns only on the tables that have them; a table audited
without that look can never get one.

Revision ID: 0026
Revises: 0025

audit_row() read the audited table's secret columns from pg_attribute for every row it
wrote (0023): a query, its executor and a regular expression per column, about 45 us per
audited row (`python -m loadtest.server_work_bench` lists it), on every table, though only
users and partners have a secret column (password_hash). Now:
- audit_row_redacted(): the same function as before, lookup included, on users and partners;
- audit_row(): the images whole, with no lookup, on every other table;
- the event trigger refuse_audited_secrets, after every CREATE TABLE, ALTER TABLE and
  CREATE TRIGGER, refuses (the command rolls back) any table audited by audit_row() that
  has a column named like a secret (roles.SECRET_COLUMN, the pattern 0019 hides from
  analysts): add `api_token` to hotels, rename a column to `secret_note`, or audit users with
  audit_row(), and the command fails, naming the table, the column and
  audit_row_redacted(). So no secret column can reach audit_log unstripped, as before.
Both functions build the row's key in PL/pgSQL (a loop over the trigger's arguments) instead
of a subquery the INSERT ran per row.
"""

from collections.abc import Sequence

from alembic import op

from hotel_models import roles

revision: str = "0026"
down_revision: str | Sequence[str] | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SECRET = roles.quote_literal(roles.SECRET_COLUMN)
REDACTED = ("users", "partners")  # the tables with a secret column (password_hash)

AUDIT_ROW = """
CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE{secret}
  old_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD){strip} END;
  new_image jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW){strip} END;
  pk jsonb := '{{}}';
  k text;
BEGIN
  FOREACH k IN ARRAY TG_ARGV LOOP
    pk := pk || jsonb_build_object(k, coalesce(new_image, old_image) -> k);
  END LOOP;
  INSERT INTO audit_log (table_name, operation, row_pk, old_row, new_row, db_role)
  VALUES (TG_TABLE_NAME, TG_OP::audit_operation, pk, old_image, new_image, invoking_role());
  RETURN NULL;
END $$"""
WHOLE = AUDIT_ROW.format(name="audit_row", secret="", strip="")
REDACTING = AUDIT_ROW.format(
    name="audit_row_redacted",
    secret=f"""
  secret text[] := ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = TG_RELID
                         AND attnum > 0 AND NOT attisdropped AND attname ~ {SECRET});""",
    strip=" - secret",
)

# 0023's, byte for byte, for the downgrade: every table's secret columns looked up per row.
LOOKUP_PER_ROW = f"""
CREATE OR REPLACE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
  secret text[] := ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = TG_RELID AND attnum > 0 AND NOT attisdropped AND attname ~ {SECRET});
  old_image jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) - secret END;
  new_image jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) - secret END;
BEGIN
  INSERT INTO audit_log (table_name, operation, row_pk, old_row, new_row, db_role)
  VALUES (TG_TABLE_NAME, TG_OP::audit_operation,
          (SELECT jsonb_object_agg(k, coalesce(new_image, old_image) -> k)
           FROM unnest(TG_ARGV) AS k),
          old_image, new_image, invoking_role());
  RETURN NULL;
END $$"""

# Every table audited whole, checked after each command (22 triggers: a small catalog
# join), so no way of adding a secret column, renaming one or moving a trigger escapes it.
REFUSE_AUDITED_SECRETS = f"""
CREATE FUNCTION refuse_audited_secrets() RETURNS event_trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  leak record;
BEGIN
  SELECT t.tgrelid::regclass AS audited, a.attname AS secret INTO leak
  FROM pg_trigger t JOIN pg_attribute a ON a.attrelid = t.tgrelid
  WHERE t.tgfoid = 'audit_row()'::regprocedure AND a.attnum > 0 AND NOT a.attisdropped
    AND a.attname ~ {SECRET}
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION '% is audited whole by audit_row(): its column % would reach audit_log',
      leak.audited, leak.secret
      USING ERRCODE = 'invalid_table_definition',
            HINT = 'audit the table with audit_row_redacted(), which strips secret columns';
  END IF;
END $$"""
GUARDED_TAGS = "'CREATE TABLE', 'ALTER TABLE', 'CREATE TRIGGER'"


def _audit_with(function: str, table: str) -> None:
    op.execute(f"DROP TRIGGER audit ON {table}")
    op.execute(
        f"CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION {function}('id')"
    )


def upgrade() -> None:
    op.execute(REDACTING)
    op.execute("ALTER FUNCTION audit_row_redacted() OWNER TO hotel_owner")
    op.execute("REVOKE EXECUTE ON FUNCTION audit_row_redacted() FROM PUBLIC")
    for table in REDACTED:
        _audit_with("audit_row_redacted", table)
    op.execute(WHOLE)
    op.execute(REFUSE_AUDITED_SECRETS)
    op.execute(
        "CREATE EVENT TRIGGER refuse_audited_secrets ON ddl_command_end "
        f"WHEN TAG IN ({GUARDED_TAGS}) EXECUTE FUNCTION refuse_audited_secrets()"
    )


def downgrade() -> None:
    op.execute("DROP EVENT TRIGGER refuse_audited_secrets")
    op.execute("DROP FUNCTION refuse_audited_secrets()")
    op.execute(LOOKUP_PER_ROW)
    for table in REDACTED:
        _audit_with("audit_row", table)
    op.execute("DROP FUNCTION audit_row_redacted()")
