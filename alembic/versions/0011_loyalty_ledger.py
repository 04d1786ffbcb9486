"""The loyalty ledger: balance = sum of the append-only ledger, points spent, earned and
returned by the database.

Revision ID: 0011
Revises: 0010

- bonus_transactions is append-only; each insert moves bonus_accounts.balance, whose CHECK
  (balance >= 0) rejects an overspend atomically (concurrent spenders queue on the account
  row and the later ones see the lower balance).
- balance changes only through the ledger (a direct UPDATE is refused).
- a booking with bonus_points_used spends them when inserted, earns
  loyalty_config.earn_percent of its price when it becomes fully paid (once), and gets its
  points back when cancelled.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPLY = """
CREATE FUNCTION bonus_ledger_apply() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  UPDATE bonus_accounts SET balance = balance + NEW.amount WHERE id = NEW.account_id;
  RETURN NULL;
END $$"""

APPEND_ONLY = """
CREATE FUNCTION bonus_ledger_append_only() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  RAISE EXCEPTION 'the bonus ledger is append-only: add a correcting entry instead'
    USING ERRCODE = 'restrict_violation', CONSTRAINT = 'bonus_ledger_append_only';
END $$"""

# Depth 1 is a client's own statement; the ledger trigger updates at depth 2.
BALANCE_GUARD = """
CREATE FUNCTION bonus_accounts_guard() RETURNS trigger LANGUAGE plpgsql
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

BOOKINGS = """
CREATE FUNCTION bookings_loyalty() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  account bigint := (SELECT id FROM bonus_accounts WHERE user_id = NEW.user_id);
  points bigint;
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.bonus_points_used > 0 THEN
      IF account IS NULL THEN
        RAISE EXCEPTION 'the guest has no bonus account to pay with points'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'bonus_points_need_account';
      END IF;
      INSERT INTO bonus_transactions (account_id, booking_id, amount, kind, description)
      VALUES (account, NEW.id, -NEW.bonus_points_used, 'spend', 'booking ' || NEW.code);
    END IF;
    RETURN NULL;
  END IF;
  IF account IS NOT NULL AND NEW.paid_state = 'paid' AND OLD.paid_state <> 'paid'
     AND NOT EXISTS (SELECT FROM bonus_transactions
                     WHERE booking_id = NEW.id AND kind = 'earn') THEN
    points := floor(NEW.total_price * (SELECT earn_percent FROM loyalty_config) / 100);
    IF points > 0 THEN
      INSERT INTO bonus_transactions (account_id, booking_id, amount, kind, description)
      VALUES (account, NEW.id, points, 'earn', 'paid booking ' || NEW.code);
    END IF;
  END IF;
  IF NEW.status = 'cancelled' AND OLD.status <> 'cancelled' AND NEW.bonus_points_used > 0 THEN
    INSERT INTO bonus_transactions (account_id, booking_id, amount, kind, description)
    VALUES (account, NEW.id, NEW.bonus_points_used, 'return', 'cancelled booking ' || NEW.code);
  END IF;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table(
        "loyalty_config",
        sa.Column("id", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "earn_percent",
            sa.Numeric(precision=5, scale=2),
            server_default=sa.text("5"),
            nullable=False,
        ),
        sa.CheckConstraint("id", name=op.f("ck_loyalty_config_single_row")),
        sa.CheckConstraint(
            "earn_percent BETWEEN 0 AND 100", name=op.f("ck_loyalty_config_percent_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_config")),
    )
    op.execute("INSERT INTO loyalty_config DEFAULT VALUES")
    op.execute("GRANT SELECT ON loyalty_config TO hotel_app")
    op.execute(APPLY)
    op.execute(
        "CREATE TRIGGER bonus_ledger_apply AFTER INSERT ON bonus_transactions "
        "FOR EACH ROW EXECUTE FUNCTION bonus_ledger_apply()"
    )
    op.execute(APPEND_ONLY)
    op.execute(
        "CREATE TRIGGER bonus_ledger_append_only BEFORE UPDATE OR DELETE ON bonus_transactions "
        "FOR EACH ROW EXECUTE FUNCTION bonus_ledger_append_only()"
    )
    op.execute(BALANCE_GUARD)
    op.execute(
        "CREATE TRIGGER bonus_accounts_guard BEFORE INSERT OR UPDATE OF balance "
        "ON bonus_accounts FOR EACH ROW EXECUTE FUNCTION bonus_accounts_guard()"
    )
    op.execute(BOOKINGS)
    op.execute(
        "CREATE TRIGGER bookings_loyalty AFTER INSERT OR UPDATE OF status, paid_state "
        "ON bookings FOR EACH ROW EXECUTE FUNCTION bookings_loyalty()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER bookings_loyalty ON bookings")
    op.execute("DROP FUNCTION bookings_loyalty()")
    op.execute("DROP TRIGGER bonus_accounts_guard ON bonus_accounts")
    op.execute("DROP FUNCTION bonus_accounts_guard()")
    op.execute("DROP TRIGGER bonus_ledger_append_only ON bonus_transactions")
    op.execute("DROP FUNCTION bonus_ledger_append_only()")
    op.execute("DROP TRIGGER bonus_ledger_apply ON bonus_transactions")
    op.execute("DROP FUNCTION bonus_ledger_apply()")
    op.drop_table("loyalty_config")
