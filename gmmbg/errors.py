"""The exception the command line shows as a one-line error (no traceback)."""


class GmmbgError(Exception):
    """A problem the user can fix, described in one line that says what to do."""
