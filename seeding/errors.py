"""The loader's one user-facing failure: the CLI prints its message as one line."""


class SeedError(Exception):
    """Bad input or a database the loader cannot fill; the message says what to do."""
