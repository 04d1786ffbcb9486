"""A hotel's rating is derived from its reviews: no client sets it, and its recomputation is
not audited.

Revision ID: 0028
Revises: 0027

hotels.rating is the average of the hotel's reviews (0012), kept by the reviews' trigger. But
any role that may update hotels could also set it (hotel_app: a partner could rate its own
hotel 5.00), and each recomputation was audited as a change of the hotel, beside the audit
row of the review that caused it. Now the rating is derived like paid_state (0010) and the
bonus balance (0011):
- hotels_rating_derived, BEFORE INSERT OR UPDATE OF rating on hotels, sets the average of the
  hotel's reviews (NULL without any), whatever the statement set. It runs after the UPDATE
  has locked the row, and its query takes its own snapshot, so a review committed by a
  concurrent writer the UPDATE waited for is counted.
- hotels_rating() (after a review's insert, update or delete) asks for the recomputation by
  naming the column; the lock it took first for 0012's single-statement average is no longer
  needed.
- The hotels audit skips an UPDATE that changes nothing but the rating, as 0023 does for
  paid_state and the balance: the review that moved it is audited.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0028"
down_revision: str | Sequence[str] | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DERIVED = """
CREATE FUNCTION hotels_rating_derived() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
BEGIN
  NEW.rating := (SELECT round(avg(rating), 2) FROM reviews WHERE hotel_id = NEW.id);
  RETURN NEW;
END $$"""

RATING = """
CREATE OR REPLACE FUNCTION hotels_rating() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  hotel bigint;
BEGIN
  FOR hotel IN
    SELECT DISTINCT h FROM unnest(ARRAY[
      CASE WHEN TG_OP <> 'INSERT' THEN OLD.hotel_id END,
      CASE WHEN TG_OP <> 'DELETE' THEN NEW.hotel_id END]) AS h WHERE h IS NOT NULL
  LOOP
{recompute}
  END LOOP;
  RETURN NULL;
END $$"""
# hotels_rating_derived sets the value.
BY_TRIGGER = "    UPDATE hotels SET rating = rating WHERE id = hotel;"
# 0012's, for the downgrade.
LOCK_THEN_AVERAGE = """    PERFORM FROM hotels WHERE id = hotel FOR NO KEY UPDATE;
    UPDATE hotels SET rating = (SELECT round(avg(rating), 2) FROM reviews WHERE hotel_id = hotel)
    WHERE id = hotel;"""


def upgrade() -> None:
    op.execute(DERIVED)
    op.execute(
        "CREATE TRIGGER hotels_rating_derived BEFORE INSERT OR UPDATE OF rating ON hotels "
        "FOR EACH ROW EXECUTE FUNCTION hotels_rating_derived()"
    )
    op.execute(RATING.format(recompute=BY_TRIGGER))
    op.execute("DROP TRIGGER audit ON hotels")
    op.execute(
        "CREATE TRIGGER audit AFTER INSERT OR DELETE ON hotels "
        "FOR EACH ROW EXECUTE FUNCTION audit_row('id')"
    )
    op.execute(
        "CREATE TRIGGER audit_update AFTER UPDATE ON hotels FOR EACH ROW "
        "WHEN ((to_jsonb(OLD.*) - 'rating') IS DISTINCT FROM (to_jsonb(NEW.*) - 'rating')) "
        "EXECUTE FUNCTION audit_row('id')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_update ON hotels")
    op.execute("DROP TRIGGER audit ON hotels")
    op.execute(
        "CREATE TRIGGER audit AFTER INSERT OR UPDATE OR DELETE ON hotels "
        "FOR EACH ROW EXECUTE FUNCTION audit_row('id')"
    )
    op.execute(RATING.format(recompute=LOCK_THEN_AVERAGE))
    op.execute("DROP TRIGGER hotels_rating_derived ON hotels")
    op.execute("DROP FUNCTION hotels_rating_derived()")
