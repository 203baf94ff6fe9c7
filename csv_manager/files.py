"""Files only their owner may read: the history database holds a copy of every watched file.

The console script sets the umask to PRIVATE_UMASK, which covers every file the process makes (SQLite's
-wal and -shm files, the log's backups). Used as a library the app cannot change the umask of its host process,
so the files it knows it will need are made here first, empty and private: SQLite gives a database's journals
the database file's own permissions, and the log is appended to, keeping its mode.
"""
import os

PRIVATE_UMASK = 0o077


def create_private(path):
    """Create ``path`` empty with mode 0600 if it does not exist yet (an empty file is a new SQLite database).

    A file that cannot be made is left to whoever opens it next, which says why in its own words.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except OSError:
        pass
