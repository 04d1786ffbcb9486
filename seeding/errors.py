"""The loader's one user-facing failure: the CLI prints its message as one line."""

from hotel_models.errors import HotelError


class SeedError(HotelError):
    """Bad input or a database the loader cannot fill; the message says what to do."""
