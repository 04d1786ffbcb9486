"""A small world for the load tests and the benchmark, until `hotel seed --scale tiny` exists
on this branch: `ensure_seeded(url)` is the one place to switch over.

Plain SQL as the owner, in one transaction, skewed like real data: a few big cities hold most
hotels, prices spread per room type, half the guests carry bonus points, and existing
bookings cluster in the coming weeks.
"""

from __future__ import annotations

import psycopg

from loadtest.db import LoadError, conninfo

FIXTURE_SQL = """
INSERT INTO partner_types (code, name) VALUES
  ('owner', 'Owner'), ('agency', 'Agency'), ('corporate', 'Corporate')
ON CONFLICT (code) DO NOTHING;
INSERT INTO payment_methods (code, name) VALUES
  ('card', 'Card'), ('sbp', 'Fast payments'), ('cash', 'Cash on arrival')
ON CONFLICT (code) DO NOTHING;
INSERT INTO amenities (name)
  SELECT 'amenity ' || g FROM generate_series(1, 12) g ON CONFLICT (name) DO NOTHING;
INSERT INTO facilities (name)
  SELECT 'facility ' || g FROM generate_series(1, 8) g ON CONFLICT (name) DO NOTHING;
INSERT INTO partners (partner_type_id, name, login, email, password_hash)
  SELECT (SELECT id FROM partner_types ORDER BY id LIMIT 1 OFFSET g % 3), 'Partner ' || g,
         'lt_partner' || g, 'lt_partner' || g || '@example.test', 'x'
  FROM generate_series(1, 20) g;
-- Zipf-like: city k gets about 60/k hotels.
INSERT INTO hotels (partner_id, name, address, city, stars, description)
  SELECT (SELECT min(id) FROM partners) + (h % 20), 'Hotel ' || c || '-' || h,
         h || ' Main street', 'City ' || c, 1 + (h % 5), 'a hotel'
  FROM generate_series(1, 10) c, generate_series(1, greatest(1, 60 / c)) h;
INSERT INTO rooms (hotel_id, number, room_type, capacity, price)
  SELECT h.id, (100 + n)::text,
         (ARRAY['single','double','double','twin','family','suite'])[1 + n % 6]::room_type,
         (ARRAY[1, 2, 2, 2, 4, 3])[1 + n % 6],
         round((40 + random() * 60) * (ARRAY[1, 1.4, 1.4, 1.3, 2, 3.5])[1 + n % 6]
               * (1 + coalesce(h.stars, 3) / 5.0))
  FROM hotels h, generate_series(1, 8) n;
UPDATE rooms SET status = 'maintenance' WHERE random() < 0.03;
INSERT INTO room_rates (room_id, kind, name, starts_on, ends_on, price)
  SELECT r.id, 'seasonal', 'winter', current_date + 20, current_date + 50, r.price * 0.85
  FROM rooms r WHERE r.id % 4 = 0;
INSERT INTO services (hotel_id, name, price)
  SELECT h.id, s.name, s.price FROM hotels h,
    (VALUES ('Breakfast', 15), ('Parking', 10), ('Airport transfer', 40)) s(name, price);
INSERT INTO hotel_amenities (hotel_id, amenity_id)
  SELECT h.id, a.id FROM hotels h, amenities a WHERE (h.id + a.id) % 3 = 0;
INSERT INTO users (first_name, last_name, login, email, password_hash)
  SELECT 'Guest', g::text, 'lt_guest' || g, 'lt_guest' || g || '@example.test', 'x'
  FROM generate_series(1, 600) g;
INSERT INTO bonus_accounts (user_id) SELECT id FROM users WHERE id % 2 = 0;
INSERT INTO bonus_transactions (account_id, amount, kind, description)
  SELECT id, 200 + (id % 7) * 100, 'promo', 'welcome' FROM bonus_accounts;
-- Existing demand: about one booking in three rooms, mostly within the next month.
INSERT INTO bookings (user_id, room_id, check_in, check_out, guests, total_price)
  SELECT (SELECT min(id) FROM users) + (r.id * 7) % 600, r.id,
         current_date + d, current_date + d + 1 + (r.id % 4)::int, 1, r.price * (1 + r.id % 4)
  FROM rooms r, LATERAL (SELECT (1 + (r.id * 13) % 30)::int AS d) o
  WHERE r.id % 3 = 0 AND r.status = 'available';
"""


def ensure_seeded(url: str) -> None:
    """Insert the fixture once (a migrated, empty database); leave seeded data alone."""
    with psycopg.connect(conninfo(url)) as conn:
        if conn.execute("SELECT to_regclass('public.bookings')").fetchone() == (None,):
            raise LoadError("the database is not migrated: run `hotel migrate head` first")
        row = conn.execute("SELECT EXISTS (SELECT FROM rooms)").fetchone()
        if row is not None and row[0]:
            return
        conn.execute(FIXTURE_SQL)
        conn.execute("ANALYZE")
