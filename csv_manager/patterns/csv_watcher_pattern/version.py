"""One version of a file as ``csv.DictReader`` reads it (a :class:`Version`): its header, rows, whether its last
record is finished and where some of its records start, which is what the next diff needs.

A file in an encoding that does not write quotes, line ends, NUL and the delimiter as their ASCII bytes (see
dialect.py) is *transcoded*: each version is decoded whole and read as its UTF-8 encoding, while its own bytes
stay the version's content and its patches'. Such a file costs a decode of all of it at every check, where the
others cost only what changed.
"""
import bisect
import codecs
import csv
import dataclasses
from dataclasses import dataclass

from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT, Dialect
from csv_manager.patterns.csv_watcher_pattern.records import (
    LINE_ENDS, NEWLINE, Side, count_rows, first_record, is_finished, is_plain, line_checkpoints, line_end_after)

#: Bytes of plain text (see is_plain) counted at a time by read().
PLAIN_CHUNK = 1 << 20


@dataclass
class Version:
    """One version of a file as csv.DictReader reads it.

    ``header`` is the first record (None for a file without records), ``body`` the offset after it, ``rows``
    the number of rows, ``terminated`` whether the last record is finished (the file ends with a line end that
    is not inside quotes, so appending bytes cannot change its last row), ``checkpoints`` the increasing
    offsets of some record starts, the first being ``body``, and ``dialect`` how it was read.

    For a transcoded dialect, ``utf8`` is the Version of the file's UTF-8 transcoding, which the diff reads;
    ``data`` is the file's own bytes, and the offsets (``body``, ``checkpoints``) are the transcoding's.
    """

    data: bytes
    header: list
    body: int
    rows: int
    terminated: bool
    checkpoints: list
    dialect: Dialect = DEFAULT
    utf8: "Version" = None


def read(data, dialect=DEFAULT):
    """Parse all of ``data``. Raises UnicodeDecodeError (not in the dialect's encoding) or csv.Error (on Python
    3.10, a NUL)."""
    if dialect.transcoded:
        utf8 = read(dialect.transcode(data), dialect.utf8)
        return dataclasses.replace(utf8, data=data, dialect=dialect, utf8=utf8)
    header, body, cut = first_record(data, dialect)
    terminated = is_finished(data, cut)
    if header is None:
        return Version(data, header, body, 0, terminated, [body], dialect)
    if is_plain(data, body, len(data)):
        rows = _count_plain(data, body, dialect)
        if rows is not None:
            return Version(data, header, body, rows, terminated, line_checkpoints(data, [body]), dialect)
    side = Side(data, body, [body], dialect, keep_rows=False, cut=cut)
    side.run(0)
    return Version(data, header, body, side.count, side.terminated, side.checkpoints, dialect)


def header_of(data, dialect=DEFAULT):
    """The header (first record) of ``data``, the start of a file, and whether it ends before the end of
    ``data`` (else more of the file may belong to it); (None, False) if it has none or it cannot be parsed."""
    try:
        if dialect.transcoded:
            data, dialect = dialect.transcode(data, final=False), dialect.utf8
        header, end, _ = first_record(data, dialect)
    except (UnicodeDecodeError, csv.Error):
        return None, False
    return header, end < len(data)


def header_after(old, data):
    """first_record(data) for the next version of ``old``: its header, without parsing it again, when ``data``
    starts with the same header record, ended by the same line end outside quotes (not by the end of the old
    data, and not by a CR that is now half of a CRLF). Parsing 100,000 columns twice was a check's largest
    cost and a fifth of its memory."""
    body = old.body
    end = old.data[body - 1:body]
    ended = body < len(old.data) or old.terminated
    if (old.header is not None and ended and body <= len(data) and end in LINE_ENDS
            and not (end == b"\r" and data[body:body + 1] == NEWLINE) and data[:body] == old.data[:body]):
        return old.header, body, False
    return first_record(data, old.dialect)


def _count_plain(data, start, dialect):
    """The rows of plain ``data`` from ``start``, checked to decode a megabyte at a time (a file-sized copy
    would double the memory a large file costs); None if a line is too long to be sure that no field is over
    csv.field_size_limit() (then csv.reader must decide)."""
    rows, limit = 0, csv.field_size_limit()
    decoder, view = codecs.getincrementaldecoder(dialect.encoding)(), memoryview(data)
    while start < len(data):
        stop = line_end_after(data, start + PLAIN_CHUNK)
        lines = data[start:stop].split(NEWLINE)
        if max(map(len, lines)) > limit:
            return None
        for piece in range(start, stop, PLAIN_CHUNK):  # a line may be longer than a megabyte
            decoder.decode(view[piece:min(piece + PLAIN_CHUNK, stop)])
        rows += count_rows(lines)
        start = stop
    decoder.decode(b"", True)
    return rows


def shifted(old, data, checkpoints, old_position):
    """``checkpoints`` (the new version's, up to where both versions are in step again) followed by the old
    version's checkpoints from ``old_position`` on, moved by the change in length."""
    shift = len(data) - len(old.data)
    tail = old.checkpoints[bisect.bisect_left(old.checkpoints, old_position):]
    return checkpoints + [checkpoint + shift for checkpoint in tail if checkpoint + shift > checkpoints[-1]]
