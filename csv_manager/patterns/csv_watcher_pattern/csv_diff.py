"""Which rows appeared in a CSV file and which went missing between two versions of its bytes, exactly as
``csv.DictReader`` reads them.

The oracle is ``csv.DictReader(open(path, newline="", encoding="utf-8-sig"))`` with its default dialect: a
leading BOM is dropped (a U+FEFF anywhere else is data), lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``
outside quotes (never at U+2028, form feed and the other separators ``str.splitlines`` knows), quoting is not
strict, blank lines are not rows, the first record is the header, extra values go under the key ``None`` and
absent ones are ``None``. Rows compare as a multiset of those dicts: a row that now appears twice where it
appeared once is one new row, and a changed row is one missing row plus one new row.

The parsing is ``csv.reader`` itself, so there is no second set of rules to get wrong; what this module adds is
where to start and stop it. A :class:`Version` remembers, about every ``CHECKPOINT_BYTES``, an offset where a
record starts. A diff skips the common prefix of the two versions at memcmp speed, starts both parsers at the
last checkpoint before it, and stops them as soon as they stand at record starts the same distance from the end
inside the common suffix: from there on the parser sees the same bytes in the same state, so it would read the
same rows. An append or a one-row edit in a 500,000-row file therefore parses a few kilobytes; a change at both
ends parses everything once, still linear.
"""
import bisect
import csv
import io
import itertools
from collections import Counter
from dataclasses import dataclass, field

#: Bytes decoded and handed to csv.reader at a time (rounded up to the end of a line).
CHUNK = 1 << 16
#: Distance between two remembered record starts: a diff parses about this much before a change.
CHECKPOINT_BYTES = 1 << 16
#: Bytes compared at a time when looking for the common prefix and suffix.
BLOCK = 1 << 16
LINE_ENDS = (b"\n", b"\r")


@dataclass(frozen=True)
class Patch:
    """The new version's bytes as an edit of the old: ``old[:start] + replacement + old[end:]``."""

    start: int
    end: int
    replacement: bytes

    def apply(self, old):
        return old[:self.start] + self.replacement + old[self.end:]


@dataclass
class Change:
    """The rows that appeared and went missing, in file order, the row count of the new version and the patch
    that turns the old version's bytes into the new one's."""

    new_rows: list = field(default_factory=list)
    missing_rows: list = field(default_factory=list)
    rows: int = 0
    patch: Patch = None

    def __bool__(self):
        return bool(self.new_rows or self.missing_rows)


@dataclass
class Version:
    """One version of a file as csv.DictReader reads it.

    ``header`` is the first record (None for a file without records), ``body`` the offset after it, ``rows``
    the number of rows, ``terminated`` whether the last record is finished (the file ends with a line end that
    is not inside quotes, so appending bytes cannot change its last row), and ``checkpoints`` the increasing
    offsets of some record starts, the first being ``body``.
    """

    data: bytes
    header: list
    body: int
    rows: int
    terminated: bool
    checkpoints: list


def as_dict(header, row):
    """One row as csv.DictReader returns it."""
    values = dict(zip(header, row))
    if len(row) > len(header):
        values[None] = row[len(header):]
    for name in header[len(row):]:
        values[name] = None
    return values


def read(data):
    """Parse all of ``data``. Raises UnicodeDecodeError (not UTF-8) or csv.Error (for example a field over
    csv.field_size_limit())."""
    header, body, cut = _header(data)
    side = _Side(data, body, [body], keep_rows=False, cut=cut)
    while side.left:
        side.advance()
    return Version(data, header, body, side.count, side.terminated, side.checkpoints)


def diff(old, data):
    """Compare the Version ``old`` with the bytes ``data``; returns (Change, Version of ``data``).

    Raises UnicodeDecodeError or csv.Error when a part of ``data`` that is not in ``old`` cannot be parsed.
    """
    new_header, new_body, cut = _header(data)
    prefix = _common_prefix(old.data, data, min(len(old.data), len(data)))
    suffix = _common_suffix(old.data, data, min(len(old.data), len(data)) - prefix)
    patch = Patch(prefix, len(old.data) - suffix, data[prefix:len(data) - suffix])
    if new_header != old.header or new_header is None:
        return _diff_all(old, data, new_header, new_body, cut, patch)

    if old.body == new_body and old.data[:old.body] == data[:new_body]:
        # The checkpoint must lie before the first differing byte (not at it: a "\r" just before it could
        # become half of a "\r\n").
        kept = max(bisect.bisect_left(old.checkpoints, prefix), 1)
        old_start = new_start = old.checkpoints[kept - 1]
        checkpoints = old.checkpoints[:kept]
    else:
        old_start, new_start, checkpoints = old.body, new_body, [new_body]
    synced = min(len(old.data) - old_start, len(data) - new_start, suffix)
    old_side, new_side = _Side(old.data, old_start, [old_start]), _Side(data, new_start, checkpoints, cut=cut)
    while not (old_side.left == new_side.left <= synced):
        (old_side if old_side.left >= new_side.left else new_side).advance()

    shift = len(data) - len(old.data)
    tail = old.checkpoints[bisect.bisect_left(old.checkpoints, old_side.position):]
    version = Version(data, new_header, new_body, old.rows - old_side.count + new_side.count,
                      new_side.terminated if new_side.left == 0 else old.terminated,
                      new_side.checkpoints + [checkpoint + shift for checkpoint in tail])
    by_dict = len(set(old.header)) < len(old.header)
    new_rows, missing_rows = _difference(old.header, old_side.rows, new_header, new_side.rows, by_dict)
    return Change(new_rows, missing_rows, version.rows, patch), version


def _diff_all(old, data, new_header, new_body, cut, patch):
    """The header changed: every row of both versions is compared, as dicts."""
    old_side, new_side = _Side(old.data, old.body, [old.body]), _Side(data, new_body, [new_body], cut=cut)
    for side in (old_side, new_side):
        while side.left:
            side.advance()
    version = Version(data, new_header, new_body, new_side.count, new_side.terminated, new_side.checkpoints)
    new_rows, missing_rows = _difference(old.header or [], old_side.rows, new_header or [], new_side.rows, True)
    return Change(new_rows, missing_rows, version.rows, patch), version


class _Reader:
    """csv.reader over ``data`` from the record start ``start``, decoded a chunk at a time; iterating gives
    (end offset, fields) for each record, blank ones (``[]``) included.

    ``exhausted`` turns true when csv.reader asked for a line after the last one: read right after a record,
    it tells that this last record was cut off by the end of the data inside a quoted field.
    """

    def __init__(self, data, start):
        self.data = data
        self.exhausted = False
        self._line_ends = []
        self._first_line = 0
        self._reader = csv.reader(self._lines(start))

    def __iter__(self):
        reader = self._reader
        for fields in reader:
            # csv.reader returns a record as soon as the line that ends it is read: the last line handed out.
            yield self._line_ends[reader.line_num - 1 - self._first_line], fields

    def _lines(self, start):
        data = self.data
        while start < len(data):
            stop = _line_end_after(data, start + CHUNK)
            chunk = data[start:stop]
            text = chunk.decode("utf-8-sig" if start == 0 else "utf-8")
            self._first_line += len(self._line_ends)
            # bytes.splitlines and a newline="" text stream split at the same three line ends.
            self._line_ends = list(itertools.accumulate(map(len, chunk.splitlines(True)), initial=start))[1:]
            yield from io.StringIO(text, newline="")
            start = stop
        self.exhausted = True


class _Side:
    """One version being parsed from the record start ``start``: where it stands, its rows (as lists of
    fields, if ``keep_rows``) and their count, whether its last record is finished (``cut``: the header was
    already cut off inside quotes) and the checkpoints passed, appended to ``checkpoints``."""

    def __init__(self, data, start, checkpoints, keep_rows=True, cut=False):
        self.data = data
        self.position = start
        self.rows = [] if keep_rows else None
        self.count = 0
        self.terminated = (not data or data.endswith(LINE_ENDS)) and not cut
        self.checkpoints = checkpoints
        self._reader = _Reader(data, start)
        self._records = iter(self._reader)

    @property
    def left(self):
        return len(self.data) - self.position

    def advance(self):
        """Read one record."""
        end, fields = next(self._records, (len(self.data), []))
        if fields:
            self.count += 1
            if self.rows is not None:
                self.rows.append(fields)
        if end == len(self.data) and self._reader.exhausted:
            self.terminated = False
        if end - self.checkpoints[-1] >= CHECKPOINT_BYTES:
            self.checkpoints.append(end)
        self.position = end


def _header(data):
    """The first record of ``data``, the offset after it and whether it was cut off by the end of the data
    inside quotes; (None, 0, False) when there is no record at all."""
    reader = _Reader(data, 0)
    for end, fields in reader:
        return fields, end, end == len(data) and reader.exhausted
    return None, 0, False


def _difference(old_header, old_rows, new_header, new_rows, by_dict):
    """The rows only in ``new_rows`` and only in ``old_rows`` (lists of fields), as dicts, in file order.

    Rows are compared as their field tuples, which is the same as comparing their dicts when the header names
    are unique and the headers equal; otherwise (``by_dict``) as the dicts themselves.
    """
    old_key = _dict_key(old_header) if by_dict else tuple
    new_key = _dict_key(new_header) if by_dict else tuple
    old_keys, new_keys = list(map(old_key, old_rows)), list(map(new_key, new_rows))
    old_set, new_set = set(old_keys), set(new_keys)
    if len(old_set) == len(old_keys) and len(new_set) == len(new_keys):
        appeared, vanished = new_set - old_set, old_set - new_set
        return ([as_dict(new_header, row) for key, row in zip(new_keys, new_rows) if key in appeared],
                [as_dict(old_header, row) for key, row in zip(old_keys, old_rows) if key in vanished])
    old_counts, new_counts = Counter(old_keys), Counter(new_keys)
    return (_only(new_counts - old_counts, new_keys, new_rows, new_header),
            _only(old_counts - new_counts, old_keys, old_rows, old_header))


def _only(surplus, keys, rows, header):
    """The first ``surplus[key]`` rows of each key, as dicts, in file order."""
    found = []
    for key, row in zip(keys, rows):
        if surplus[key] > 0:
            surplus[key] -= 1
            found.append(as_dict(header, row))
    return found


def _dict_key(header):
    """A function giving a hashable form of a row's dict, equal exactly when the dicts are equal."""
    def key(row):
        return frozenset((name, tuple(value) if isinstance(value, list) else value)
                         for name, value in as_dict(header, row).items())
    return key


def _line_end_after(data, offset):
    """The offset just after the first line end (``\\n``, ``\\r\\n`` or ``\\r``) at or after ``offset``, or the
    length of ``data``. Searches a window at a time, so a file without one kind of line end costs no rescans."""
    end = len(data)
    while offset < end:
        window = min(offset + CHUNK, end)
        newline = data.find(b"\n", offset, window)
        carriage = data.find(b"\r", offset, window if newline < 0 else newline)
        if carriage >= 0:
            return carriage + (2 if data[carriage + 1:carriage + 2] == b"\n" else 1)
        if newline >= 0:
            return newline + 1
        offset = window
    return end


def _common_prefix(old, new, limit):
    """Length of the longest common prefix of ``old`` and ``new``, at most ``limit``."""
    start = 0
    while start < limit:
        end = min(start + BLOCK, limit)
        if old[start:end] != new[start:end]:
            break
        start = end
    else:
        return limit
    while start < end:
        if old[start] != new[start]:
            return start
        start += 1
    return start


def _common_suffix(old, new, limit):
    """Length of the longest common suffix of ``old`` and ``new``, at most ``limit``."""
    old_end, new_end = len(old), len(new)
    length = 0
    while length < limit:
        step = min(BLOCK, limit - length)
        if old[old_end - length - step:old_end - length] != new[new_end - length - step:new_end - length]:
            break
        length += step
    else:
        return limit
    while length < limit and old[old_end - length - 1] == new[new_end - length - 1]:
        length += 1
    return length
