"""The one exception type for problems a user can fix: click prints its message on stderr and exits 1."""
import click


class CsvManagerError(click.ClickException):
    """A user-facing error: bad input, a missing file, an unusable database or folder."""
