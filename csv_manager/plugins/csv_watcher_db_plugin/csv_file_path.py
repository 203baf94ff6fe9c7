"""What a CSV file path given on the command line must be before it is stored or watched.

Paths are stored absolute and normalised with ``os.path.abspath`` (``..`` and ``.`` removed, symbolic links kept
as given), so the same file named from two directories is one watcher, and a link keeps pointing the watcher at
whatever file the link names.
"""
import os
import stat

from csv_manager.errors import CsvManagerError

#: The length of the csv_file column.
MAX_PATH_LENGTH = 2048


def has_control_character(path):
    return any(ord(character) < 32 or ord(character) == 127 for character in path)


def normalise(csv_file):
    """The absolute, normalised form of a path from the command line; raises CsvManagerError if unusable."""
    if not csv_file:
        raise CsvManagerError("The CSV file path is empty.")
    if has_control_character(csv_file):
        raise CsvManagerError("The CSV file path %r contains a control character (such as a newline); "
                              "such paths cannot be listed one per line." % csv_file)
    try:
        csv_file.encode("utf-8")
    except UnicodeEncodeError:
        raise CsvManagerError("The CSV file path %r is not valid UTF-8." % csv_file)
    path = os.path.abspath(csv_file)
    if len(path) > MAX_PATH_LENGTH:
        raise CsvManagerError("The CSV file path is %d characters long; at most %d are supported."
                              % (len(path), MAX_PATH_LENGTH))
    return path


def check_watchable(path):
    """Raise CsvManagerError unless ``path`` is an existing, regular, readable file. Does not open it."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise CsvManagerError("No such file: %s" % path)
    except OSError as error:
        raise CsvManagerError("Cannot access %s: %s" % (path, error.strerror))
    if stat.S_ISDIR(mode):
        raise CsvManagerError("%s is a directory, not a CSV file." % path)
    if not stat.S_ISREG(mode):
        raise CsvManagerError("%s is not a regular file." % path)
    if not os.access(path, os.R_OK):
        raise CsvManagerError("%s is not readable." % path)
