"""Reviews: only the guest of a completed stay reviews it (once: uq_reviews_booking_id), and
hotels.rating stays the average of the hotel's reviews.

Revision ID: 0012
Revises: 0011

The hotel row is locked before the average is read, so concurrent reviews of one hotel
cannot leave a stale average behind.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

GUARD = """
CREATE FUNCTION reviews_guard() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  stay record;
BEGIN
  SELECT b.user_id, b.status, r.hotel_id INTO stay
  FROM bookings b JOIN rooms r ON r.id = b.room_id WHERE b.id = NEW.booking_id;
  IF NOT FOUND OR stay.status <> 'completed' OR stay.user_id <> NEW.user_id THEN
    RAISE EXCEPTION 'only the guest of a completed stay can review it'
      USING ERRCODE = 'check_violation', CONSTRAINT = 'reviews_completed_stay';
  END IF;
  NEW.hotel_id := stay.hotel_id;  -- the stay's hotel, whatever the client sent
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END $$"""

RATING = """
CREATE FUNCTION hotels_rating() RETURNS trigger LANGUAGE plpgsql
SET search_path = public, pg_temp AS $$
DECLARE
  hotel bigint;
BEGIN
  FOR hotel IN
    SELECT DISTINCT h FROM unnest(ARRAY[
      CASE WHEN TG_OP <> 'INSERT' THEN OLD.hotel_id END,
      CASE WHEN TG_OP <> 'DELETE' THEN NEW.hotel_id END]) AS h WHERE h IS NOT NULL
  LOOP
    PERFORM FROM hotels WHERE id = hotel FOR NO KEY UPDATE;
    UPDATE hotels SET rating = (SELECT round(avg(rating), 2) FROM reviews WHERE hotel_id = hotel)
    WHERE id = hotel;
  END LOOP;
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.execute(GUARD)
    op.execute(
        "CREATE TRIGGER reviews_guard BEFORE INSERT OR UPDATE ON reviews "
        "FOR EACH ROW EXECUTE FUNCTION reviews_guard()"
    )
    op.execute(RATING)
    op.execute(
        "CREATE TRIGGER hotels_rating AFTER INSERT OR UPDATE OR DELETE ON reviews "
        "FOR EACH ROW EXECUTE FUNCTION hotels_rating()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER hotels_rating ON reviews")
    op.execute("DROP FUNCTION hotels_rating()")
    op.execute("DROP TRIGGER reviews_guard ON reviews")
    op.execute("DROP FUNCTION reviews_guard()")
