"""Looking at a watched file: what identifies a version of it without reading it (its stat key), reading it
against the version already known, and the problems a watcher reports about it (:class:`Problem`)."""
import os
from typing import NamedTuple

#: Bytes read at a time while a file may still equal its last version.
READ_BLOCK = 1 << 20


class Problem(NamedTuple):
    """A finished problem state of a file: ``missing``, ``empty``, ``unreadable`` or ``invalid``, and what is
    logged about it (after the file's path)."""

    state: str
    message: str


GONE = Problem("missing", "is missing; waiting for it to come back")
EMPTY = Problem("empty", "is empty; waiting for content")


def stat_key(status):
    """What identifies a version of a file without reading it. ctime is in it because a rewrite that restores
    the old mtime (``cp -p``, ``touch -r``, sync tools) cannot restore the ctime."""
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns, status.st_ctime_ns


def read_against(stream, known):
    """All bytes of ``stream``; ``known`` itself when they are equal to it. A file of the same size is compared
    a READ_BLOCK at a time, so a re-read of an unchanged file (see watcher.RACY_SECONDS) holds no second copy of it, and
    a changed one is read once: its equal start is taken from ``known``."""
    if known is None or os.fstat(stream.fileno()).st_size != len(known):
        return stream.read()
    offset = 0
    while offset < len(known):
        block = stream.read(READ_BLOCK)
        if block != known[offset:offset + len(block)] or not block:
            return b"".join([memoryview(known)[:offset], block, stream.read()])
        offset += len(block)
    rest = stream.read()
    return known + rest if rest else known


def stat_key_of(path):
    """The stat key of the file at ``path`` now; None if it cannot be stat'ed."""
    try:
        return stat_key(os.stat(path))
    except OSError:
        return None


def unparsable(error, dialect):
    """What a watcher says of a file whose bytes raised ``error`` (UnicodeDecodeError or csv.Error)."""
    if isinstance(error, UnicodeDecodeError):
        encoding = "UTF-8" if dialect.encoding == "utf-8" else dialect.encoding
        return "holds bytes that are not %s; waiting for valid content" % encoding
    return "is not valid CSV (%s); waiting for valid content" % error
