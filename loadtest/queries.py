"""SQL of the simulated users. The service's transactions (hotel_models.operations) in
psycopg's parameter style, written so a retry after a lost connection is harmless: every
write first reads the state it would change."""

from __future__ import annotations

import re

from hotel_models.operations import availability_sql, stay_price
from hotel_models.rollups import BOOKING_STATUS_REPORT, REVENUE_REPORT


def pg(sql: str) -> str:
    """SQLAlchemy's :name parameters as psycopg's %(name)s (casts `::` untouched)."""
    return re.sub(r"(?<!:):(\w+)", r"%(\1)s", sql)


# (room, hotel, hotel name, room type, capacity, rating, stay price), cheapest first.
SEARCH = pg(availability_sql())
# The search and the booking insert as written before revision 0025 (rooms without a city,
# bookings without holds_room, no stay_nights()): the benches that compare an earlier schema
# run them there.
SEARCH_BEFORE_0025 = pg(availability_sql(earlier=True))

HOTEL_ROOMS = """
SELECT r.id, r.number, r.room_type, r.capacity, r.price,
       array(SELECT f.name FROM room_facilities rf JOIN facilities f ON f.id = rf.facility_id
             WHERE rf.room_id = r.id)
FROM rooms r WHERE r.hotel_id = %(hotel)s ORDER BY r.price"""
HOTEL_AMENITIES = """
SELECT h.name, h.rating, array(SELECT a.name FROM hotel_amenities ha
                               JOIN amenities a ON a.id = ha.amenity_id
                               WHERE ha.hotel_id = h.id ORDER BY a.name)
FROM hotels h WHERE h.id = %(hotel)s"""
HOTEL_REVIEWS = """
SELECT rating, comment, created_at FROM reviews WHERE hotel_id = %(hotel)s
ORDER BY created_at DESC LIMIT 10"""

# Manage bookings: a guest's history, newest first, then one booking by the code of its
# confirmation email.
USER_BOOKINGS = """
SELECT b.id, b.code, b.check_in, b.check_out, b.status, b.total_price, h.name
FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
WHERE b.user_id = %(user)s ORDER BY b.id DESC LIMIT 20"""
BOOKING_BY_CODE = """
SELECT b.id, b.check_in, b.check_out, b.guests, b.status, b.paid_state, b.total_price,
       r.number, h.name, h.address
FROM bookings b JOIN rooms r ON r.id = b.room_id JOIN hotels h ON h.id = r.hotel_id
WHERE b.code = %(code)s"""


def insert_booking(stay: str) -> str:
    """Price = nightly prices + the hotel's chosen active services - bonus points. Nothing is
    inserted when the key is already there: a retry whose first attempt committed."""
    return f"""
INSERT INTO bookings (user_id, room_id, check_in, check_out, guests, payment_option,
                      total_price, bonus_points_used, idempotency_key)
SELECT %(user)s, r.id, %(check_in)s, %(check_out)s, %(guests)s,
       CAST(%(option)s AS payment_option),
       p.total + coalesce((SELECT sum(s.price) FROM services s
                           WHERE s.id = ANY(%(services)s) AND s.hotel_id = r.hotel_id
                             AND s.active), 0) - %(points)s,
       %(points)s, %(key)s
FROM rooms r CROSS JOIN LATERAL ({pg(stay)}) AS p
WHERE r.id = %(room)s
  AND NOT EXISTS (SELECT FROM bookings WHERE idempotency_key = %(key)s)
RETURNING id"""


INSERT_BOOKING = insert_booking(stay_price())
INSERT_BOOKING_BEFORE_0025 = insert_booking(stay_price(earlier=True))
INSERT_BOOKING_SERVICES = """
INSERT INTO booking_services (booking_id, service_id, price)
SELECT b.id, s.id, s.price FROM bookings b JOIN rooms r ON r.id = b.room_id
JOIN services s ON s.hotel_id = r.hotel_id
WHERE b.idempotency_key = %(key)s AND s.id = ANY(%(services)s) AND s.active
ON CONFLICT DO NOTHING"""
BOOKING_BY_KEY = "SELECT id, total_price FROM bookings WHERE idempotency_key = %(key)s"

# Pay what is still due up to `share` of the price: a retry pays nothing twice.
PAY_DUE = """
WITH b AS (
  SELECT b.id, round(b.total_price * %(share)s, 2)
               - (SELECT coalesce(sum(amount), 0) FROM payments
                  WHERE booking_id = b.id AND status = 'completed') AS due
  FROM bookings b WHERE b.id = %(booking)s FOR UPDATE)
INSERT INTO payments (booking_id, method_id, amount, status)
SELECT id, %(method)s, due, 'completed' FROM b WHERE due > 0
RETURNING amount"""
# Points the paid_state trigger credited when the booking became fully paid.
EARNED = """
SELECT coalesce(sum(amount), 0) FROM bonus_transactions
WHERE booking_id = %(booking)s AND kind = 'earn'"""
MOVE = """
UPDATE bookings SET status = CAST(%(to)s AS booking_status)
WHERE id = %(booking)s AND status = ANY(CAST(%(from)s AS booking_status[]))"""
CHANGE_DATES = """
UPDATE bookings SET check_in = %(check_in)s, check_out = %(check_out)s
WHERE id = %(booking)s AND status IN ('pending', 'confirmed')"""
ADD_REVIEW = """
INSERT INTO reviews (booking_id, user_id, hotel_id, rating, comment)
SELECT b.id, b.user_id, r.hotel_id, %(rating)s, %(comment)s
FROM bookings b JOIN rooms r ON r.id = b.room_id WHERE b.id = %(booking)s
ON CONFLICT (booking_id) DO NOTHING"""

PARTNER_ADD_ROOM = """
INSERT INTO rooms (hotel_id, number, room_type, capacity, price)
VALUES (%(hotel)s, %(number)s, CAST(%(type)s AS room_type), %(capacity)s, %(price)s)"""
PARTNER_CHANGE_PRICE = """
UPDATE rooms SET price = round(price * %(factor)s, 2)
WHERE id = (SELECT id FROM rooms WHERE hotel_id = %(hotel)s ORDER BY random() LIMIT 1)"""
PARTNER_ADD_OFFER = """
INSERT INTO room_rates (room_id, kind, name, starts_on, ends_on, price)
SELECT id, CAST(%(kind)s AS rate_kind), %(name)s, %(starts)s, %(ends)s,
       round(price * %(factor)s, 2)
FROM rooms WHERE hotel_id = %(hotel)s ORDER BY random() LIMIT 1"""
PARTNER_ADD_SERVICE = """
INSERT INTO services (hotel_id, name, description, price)
VALUES (%(hotel)s, %(name)s, 'added by a partner', %(price)s)"""


def available_rooms(holds_room: str) -> str:
    """Rooms free this week in a price band; `holds_room` the live bookings' predicate
    (holds_room from revision 0025, so the no-overlap index finds a room's stays)."""
    return f"""
        SELECT r.id, r.hotel_id, r.price, r.capacity FROM rooms r
        WHERE r.price BETWEEN %(low)s AND %(high)s AND r.capacity >= %(guests)s
          AND NOT EXISTS (SELECT FROM bookings b WHERE b.room_id = r.id AND {holds_room}
                          AND daterange(b.check_in, b.check_out, '[)')
                              && daterange(current_date, current_date + 7, '[)'))
        ORDER BY r.price DESC, r.capacity LIMIT 100"""


AVAILABLE_ROOMS_BEFORE_0025 = available_rooms("b.status <> 'cancelled'")

# The earlier load service's six queries (parameterised where a person would choose), and
# the revenue report; run as role analytic.
ANALYTIC = {
    "analytic_top_rooms": """
        SELECT hotel_id, id, price FROM (
          SELECT r.hotel_id, r.id, r.price,
                 row_number() OVER (PARTITION BY r.hotel_id ORDER BY r.price DESC) AS rank
          FROM rooms r JOIN hotels h ON h.id = r.hotel_id WHERE h.city = %(city)s) t
        WHERE rank <= 3""",
    # Bookings per status and revenue per city and month, kept by the database (revision 0021).
    "analytic_booking_status": BOOKING_STATUS_REPORT,
    # The sums of completed payments per guest, kept by the database (revision 0017).
    "analytic_top_spenders": """
        SELECT user_id, completed AS spent FROM guest_spending
        ORDER BY completed DESC LIMIT 20""",
    "analytic_best_hotel_amenities": """
        SELECT h.id, h.name, array_agg(a.name ORDER BY a.name)
        FROM (SELECT id, name FROM hotels ORDER BY rating DESC NULLS LAST LIMIT 50) h
        JOIN hotel_amenities ha ON ha.hotel_id = h.id JOIN amenities a ON a.id = ha.amenity_id
        GROUP BY h.id, h.name""",
    "analytic_available_rooms": available_rooms("b.holds_room"),
    "analytic_price_histogram": """
        SELECT width_bucket(r.price, 0, 1000, 10) AS bucket, count(*)
        FROM rooms r JOIN hotels h ON h.id = r.hotel_id WHERE h.city = %(city)s
        GROUP BY bucket ORDER BY bucket""",
    "revenue_report": REVENUE_REPORT,
}
