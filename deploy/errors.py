"""The one exception type a user can cause: the CLI prints its message as one line."""


class HotelError(Exception):
    """Something the user can fix; the message says what was wrong and how to fix it."""
