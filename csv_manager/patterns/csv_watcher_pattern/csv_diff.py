"""Which rows appeared in a CSV file and which went missing between two versions of its bytes, exactly as
``csv.DictReader`` reads them.

The oracle is ``csv.DictReader(open(path, newline="", encoding="utf-8-sig"), delimiter=",")``, with another
delimiter and encoding where a :class:`Dialect` says so: a leading UTF-8 BOM is dropped (a U+FEFF anywhere else
is data), lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r``
outside quotes (never at U+2028, form feed and the other separators ``str.splitlines`` knows), quoting is not
strict, blank lines are not rows, the first record is the header, extra values go under the key ``None`` and
absent ones are ``None``. Rows compare as a multiset of those dicts: a row that now appears twice where it
appeared once is one new row, and a changed row is one missing row plus one new row (see keys.py for rows
matched by a key). When the header changes, rows compare on the columns both headers share (a new column
alone changes no row; a reorder changes nothing) and the Change tells which columns came and went.

The encoding may be any text codec. In most (UTF-8, cp1252, Latin-1, Shift_JIS...) a quote, CR, LF and NUL
are those ASCII bytes and never part of another character, and the diff finds records in the bytes, before
decoding. A file in any other (UTF-16, UTF-32, EBCDIC) is *transcoded*: each version is decoded whole and read
as its UTF-8 encoding, while its own bytes stay the version's content and its patches' (see Version). Such a
file costs a decode of all of it at every check, where the others cost only what changed.

Fields of any length are read: importing this module lifts the csv module's field size limit (128 KiB by
default) for the whole process, since csv has no per-reader limit; DictReader then reads such fields too.

The parsing is ``csv.reader`` itself, so there is no second set of rules to get wrong; what this module adds is
where to start and stop it. A :class:`Version` remembers, about every ``CHECKPOINT_BYTES``, an offset where a
record starts. A diff skips the common prefix of the two versions at memcmp speed, starts both parsers at the
last checkpoint before it, and stops them as soon as they stand at record starts the same distance from the end
inside the common suffix: from there on the parser sees the same bytes in the same state, so it would read the
same rows. An append or a one-row edit in a 500,000-row file therefore parses a few kilobytes; a change at both
ends parses everything once, still linear.
"""
import bisect
import codecs
import csv
import dataclasses
import functools
import io
import itertools
import operator
import sys
from collections import Counter
from dataclasses import dataclass, field

from csv_manager.patterns.csv_watcher_pattern.gc_pause import gc_paused
from csv_manager.patterns.csv_watcher_pattern.keys import match_keys
from csv_manager.patterns.csv_watcher_pattern.rows import as_dict, as_dicts

#: Bytes decoded and handed to csv.reader at a time (rounded up to the end of a line).
CHUNK = 1 << 16
#: Bytes of plain text (see _plain) counted at a time by read().
PLAIN_CHUNK = 1 << 20
#: Distance between two remembered record starts: a diff parses about this much before a change.
CHECKPOINT_BYTES = 1 << 16
#: Bytes compared at a time when looking for the common prefix and suffix.
BLOCK = 1 << 16
NEWLINE = b"\n"
LINE_ENDS = (NEWLINE, b"\r")
#: The bytes whose meaning the diff reads before decoding; an encoding must write them as themselves.
STRUCTURE = '"\r\n\0'
#: The names of UTF-8 (the second, a transcoded file's): its decoding is one-to-one, so different bytes are
#: different text.
UTF8 = ("utf-8", "utf_8")


@dataclass(frozen=True)
class Dialect:
    """How a file's bytes are read: a one-character ``delimiter`` and an ``encoding`` (UTF-8 drops a BOM)."""

    delimiter: str = ","
    encoding: str = "utf-8"

    def decode(self, data, at_start):
        """``data`` as text; a leading UTF-8 BOM is dropped when it starts the file."""
        return data.decode("utf-8-sig" if at_start and self.encoding == "utf-8" else self.encoding)

    def reader(self, lines):
        return csv.reader(lines, delimiter=self.delimiter)

    @property
    def transcoded(self):
        """True when the encoding writes a quote, line end, NUL or the delimiter as other bytes than ASCII's:
        then files are read as their UTF-8 transcoding."""
        return not _ascii_compatible(self.encoding, self.delimiter)

    @property
    def utf8(self):
        """The dialect a transcoded file's UTF-8 encoding is read in. ``utf_8``, not ``utf-8``: a BOM is not
        dropped there, since the file's own codec has decided already whether a BOM is data."""
        return Dialect(self.delimiter, "utf_8")

    def transcode(self, data, final=True):
        """``data`` decoded in the dialect's encoding and encoded in UTF-8; with ``final`` False, a character cut
        off at the end is left out (for a prefix of a file)."""
        return codecs.getincrementaldecoder(self.encoding)().decode(data, final).encode("utf-8")


DEFAULT = Dialect()
#: The delimiters users name, by the name they give them.
DELIMITERS = {",": ",", ";": ";", "|": "|", "tab": "\t"}


def delimiter_name(delimiter):
    return "tab" if delimiter == "\t" else delimiter


def suggested_delimiter(header, dialect):
    """The delimiter a header read in ``dialect`` suggests instead, when it is one column whose name holds
    another of DELIMITERS (Excel's semicolons read as commas); None when nothing suggests one."""
    if header is None or len(header) != 1:
        return None
    counts = {delimiter: header[0].count(delimiter) for delimiter in DELIMITERS.values()
              if delimiter != dialect.delimiter}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def check_dialect(delimiter, encoding):
    """A Dialect of ``delimiter`` and ``encoding`` (its codec's canonical name); raises ValueError naming what
    cannot be used: a delimiter that is not one character other than a quote or line end, an unknown encoding,
    a codec that is not a text encoding (rot13, zlib...), or one that cannot write the delimiter."""
    if len(delimiter) != 1 or delimiter in STRUCTURE:
        raise ValueError("the delimiter must be one character other than a quote or line end, not %r" % delimiter)
    try:
        info = codecs.lookup(encoding)
    except LookupError:
        raise ValueError("there is no encoding %r" % encoding)
    if not getattr(info, "_is_text_encoding", True):
        raise ValueError("%r is not a text encoding" % encoding)
    name = "utf-8" if info.name == "utf-8-sig" else info.name
    try:
        (STRUCTURE + delimiter).encode(name)
    except UnicodeError:
        raise ValueError("the encoding %r cannot write quotes, line ends or the delimiter %r" % (encoding, delimiter))
    return Dialect(delimiter, name)


@functools.lru_cache(maxsize=None)
def _ascii_compatible(encoding, delimiter):
    """Whether ``encoding`` writes STRUCTURE and ``delimiter`` as those ASCII bytes (and so, for the codecs
    Python has, never as part of another character)."""
    try:
        return (STRUCTURE + delimiter).encode(encoding) == (STRUCTURE + delimiter).encode("latin-1")
    except UnicodeError:
        return False


def _lift_field_size_limit():
    """Let csv read fields of any length that fits in memory: the largest limit this platform's C long holds."""
    limit = sys.maxsize
    while True:
        try:
            csv.field_size_limit(limit)
            return
        except OverflowError:
            limit //= 2


_lift_field_size_limit()


@dataclass(frozen=True)
class Patch:
    """The new version's bytes as an edit of the old: ``old[:start] + replacement + old[end:]``."""

    start: int
    end: int
    replacement: bytes

    def apply(self, old):
        return old[:self.start] + self.replacement + old[self.end:]


@dataclass
class Columns:
    """How the header changed: names ``added`` and ``removed`` (in header order), whether the names both share
    are in another order (``reordered``), and both headers."""

    added: list
    removed: list
    reordered: bool
    previous: list
    header: list

    def as_dict(self):
        return {"added": self.added, "removed": self.removed, "reordered": self.reordered,
                "previous": self.previous, "header": self.header}


@dataclass
class Change:
    """The rows that appeared and went missing, in file order, the row count of the new version, the patch
    that turns the old version's bytes into the new one's, how the header changed (None if it did not), the
    rows a key matched and why others could not be (``unmatched``: keys.Unmatched reasons; see diff), and
    whether the file was missing or unusable just before (``back``) or is new in a watched folder (``added``),
    both set by the watcher."""

    new_rows: list = field(default_factory=list)
    missing_rows: list = field(default_factory=list)
    rows: int = 0
    patch: Patch = None
    columns: Columns = None
    changed_rows: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)
    back: bool = False
    added: bool = False

    def __bool__(self):
        return bool(self.new_rows or self.missing_rows or self.changed_rows or self.columns)


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
    header, body, cut = _header(data, dialect)
    terminated = (not data or data.endswith(LINE_ENDS)) and not cut
    if header is None:
        return Version(data, header, body, 0, terminated, [body], dialect)
    if _plain(data, body, len(data)):
        rows = _count_plain(data, body, dialect)
        if rows is not None:
            return Version(data, header, body, rows, terminated, _line_checkpoints(data, [body]), dialect)
    side = _Side(data, body, [body], dialect, keep_rows=False, cut=cut)
    side.run(0)
    return Version(data, header, body, side.count, side.terminated, side.checkpoints, dialect)


@gc_paused()
def diff(old, data, key=()):
    """Compare the Version ``old`` with the bytes ``data``, read in the same dialect; returns (Change, Version
    of ``data``). With a ``key`` (column names), a new and a missing row that it matches are one changed row
    (see keys.py). The rows are lists of fields until then, and only the rows reported become dicts.

    Raises UnicodeDecodeError or csv.Error when a part of ``data`` that is not in ``old`` cannot be parsed.
    """
    dialect = old.dialect
    if old.utf8 is not None:
        change, utf8 = diff(old.utf8, dialect.transcode(data), key)
        change.patch = _patch(old.data, data)[0]
        return change, dataclasses.replace(utf8, data=data, dialect=dialect, utf8=utf8)
    change, version = _diff_fields(old, data)
    old_header, new_header = old.header or [], version.header or []
    if key:
        change.unmatched = match_keys(change, key, old_header, new_header)
    change.new_rows = as_dicts(new_header, change.new_rows)
    change.missing_rows = as_dicts(old_header, change.missing_rows)
    return change, version


def _diff_fields(old, data):
    """diff, with the new and missing rows as lists of fields (read with the new and the old header)."""
    dialect = old.dialect
    new_header, new_body, cut = _header_after(old, data)
    patch, prefix, suffix = _patch(old.data, data)
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
    distance = _plain_distance(old.data, data, old_start, new_start, synced)
    if distance is not None:
        return _diff_plain(old, data, new_body, old_start, new_start, distance, checkpoints, cut, patch)
    old_side = _Side(old.data, old_start, [old_start], dialect)
    new_side = _Side(data, new_start, checkpoints, dialect, cut=cut)
    old_side.run(synced)
    new_side.run(synced)
    while old_side.left != new_side.left:
        behind, ahead = (old_side, new_side) if old_side.left > new_side.left else (new_side, old_side)
        behind.run(ahead.left)

    terminated = new_side.terminated if new_side.left == 0 else old.terminated
    version = Version(data, new_header, new_body, old.rows - old_side.count + new_side.count, terminated,
                      _shifted(old, data, new_side.checkpoints, old_side.position), dialect)
    new_rows, missing_rows = _changed_rows(old.header, old_side.rows, new_side.rows, dialect)
    return Change(new_rows, missing_rows, version.rows, patch), version


def _patch(old, new):
    """The Patch from the bytes ``old`` to ``new``, and the lengths of their common prefix and suffix."""
    prefix = _common_prefix(old, new, min(len(old), len(new)))
    suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
    return Patch(prefix, len(old) - suffix, new[prefix:len(new) - suffix]), prefix, suffix


def _plain_distance(old, new, old_start, new_start, synced):
    """Where both changed regions may end when they hold no quote, CR or NUL: the distance from the end of the
    first line end in the common suffix (0 for the end of the data); None if a region is not plain.

    In plain text every ``\\n`` ends a record, so both parsers are in step from that line end on.
    """
    line_end = old.find(NEWLINE, len(old) - synced)
    distance = 0 if line_end < 0 else len(old) - line_end - 1
    if _plain(old, old_start, len(old) - distance) and _plain(new, new_start, len(new) - distance):
        return distance
    return None


def _diff_plain(old, data, new_body, old_start, new_start, distance, checkpoints, cut, patch):
    """The diff of plain regions (see _plain_distance): their lines are compared as bytes, at C speed, and only
    the lines that differ are parsed."""
    old_end, new_end = len(old.data) - distance, len(data) - distance
    old_records = old.data[old_start:old_end].split(NEWLINE)
    new_records = data[new_start:new_end].split(NEWLINE)
    terminated = (data.endswith(LINE_ENDS) and not cut) if distance == 0 else old.terminated
    version = Version(data, old.header, new_body, old.rows - _count(old_records) + _count(new_records),
                      terminated, _shifted(old, data, _line_checkpoints(data, checkpoints, new_end), old_end),
                      old.dialect)
    new_rows, missing_rows = _changed_rows(old.header, old_records, new_records, old.dialect, plain=True)
    return Change(new_rows, missing_rows, version.rows, patch), version


def _changed_rows(header, old_records, new_records, dialect, plain=False):
    """The rows only in ``new_records`` and only in ``old_records`` (raw records, both read with ``header``), as
    lists of fields in file order. The raw bytes are compared first, at C speed; only the records that differ
    are parsed and compared again, so a row that was merely re-quoted, or got another line end, is no change.
    ``plain`` records (lines without quotes, CRs and NULs) need no second comparison when they are UTF-8 and the
    header's names are unique: then two lines are equal exactly when their rows are."""
    appeared, vanished = _difference(*_unpaired(old_records, new_records))
    missing_rows, new_rows = _parse(vanished, dialect), _parse(appeared, dialect)
    if not (plain and dialect.encoding in UTF8 and len(set(header)) == len(header)):
        key = _row_key(header)
        new_rows, missing_rows = _difference(missing_rows, new_rows, list(map(key, missing_rows)),
                                             list(map(key, new_rows)))
    return new_rows, missing_rows


def _unpaired(old, new):
    """``old`` and ``new`` without the equal items at equal positions, in order. Taking the same item out of
    both lists leaves their multiset difference as it is, and this pass runs at C speed: rows edited in place
    (1 % or 10 % of a file) leave only the edited ones to hash and compare."""
    shared = min(len(old), len(new))
    differs = list(map(operator.ne, old, new))
    if differs.count(True) * 2 > shared:
        # Most items moved (rows reordered, or shifted by an inserted line): picking out the few in place would
        # cost more than hashing them with the rest.
        return old, new
    return (list(itertools.compress(old, differs)) + old[shared:],
            list(itertools.compress(new, differs)) + new[shared:])


def _plain(data, start, end):
    """True when ``data[start:end]`` holds no quote, CR or NUL: its records are its lines."""
    return all(data.find(byte, start, end) < 0 for byte in (b'"', b"\r", b"\0"))


def _count_plain(data, start, dialect):
    """The rows of plain ``data`` from ``start``, checked to decode a megabyte at a time (a file-sized copy
    would double the memory a large file costs); None if a line is too long to be sure that no field is over
    csv.field_size_limit() (then csv.reader must decide)."""
    rows, limit = 0, csv.field_size_limit()
    decoder, view = codecs.getincrementaldecoder(dialect.encoding)(), memoryview(data)
    while start < len(data):
        stop = _line_end_after(data, start + PLAIN_CHUNK)
        lines = data[start:stop].split(NEWLINE)
        if max(map(len, lines)) > limit:
            return None
        for piece in range(start, stop, PLAIN_CHUNK):  # a line may be longer than a megabyte
            decoder.decode(view[piece:min(piece + PLAIN_CHUNK, stop)])
        rows += _count(lines)
        start = stop
    decoder.decode(b"", True)
    return rows


def _plain_lines(data, start, dialect):
    """The non-blank lines of plain ``data`` from ``start``, decoded."""
    return [line for line in dialect.decode(data[start:], start == 0).split("\n") if line]


def _count(records):
    """The rows among raw records: all but the blank ones."""
    return len(records) - records.count(b"")


def _parse(records, dialect):
    """The fields of raw records, blank ones left out. Records are read from their starts and each ends with a
    line end outside quotes (or is the last of its file, and then last here too), so one reader over them
    joined by line ends reads each as it was read in its file."""
    joined = NEWLINE.join(records)
    plain = _plain(joined, 0, len(joined))
    text = dialect.decode(joined, False)
    # Each copy of the changed records is dropped as soon as the next is made: with a 100 MB field, each counts.
    del joined
    if plain:
        # Without quotes, CRs and NULs csv.reader reads a line as its text split at the delimiter; map() splits
        # them all in C.
        lines = text.split("\n")
        del text
        return list(map(str.split, filter(None, lines), itertools.repeat(dialect.delimiter)))
    return [row for row in dialect.reader(io.StringIO(text, newline="")) if row]


def _line_checkpoints(data, checkpoints, end=None):
    """Append to ``checkpoints`` the line starts about every CHECKPOINT_BYTES up to ``end``, in plain data."""
    end = len(data) if end is None else end
    position = checkpoints[-1] + CHECKPOINT_BYTES
    while position < end:
        line_end = data.find(NEWLINE, position, end)
        if line_end < 0:
            break
        checkpoints.append(line_end + 1)
        position = line_end + 1 + CHECKPOINT_BYTES
    return checkpoints


def _shifted(old, data, checkpoints, old_position):
    """``checkpoints`` (the new version's, up to where both versions are in step again) followed by the old
    version's checkpoints from ``old_position`` on, moved by the change in length."""
    shift = len(data) - len(old.data)
    tail = old.checkpoints[bisect.bisect_left(old.checkpoints, old_position):]
    return checkpoints + [checkpoint + shift for checkpoint in tail if checkpoint + shift > checkpoints[-1]]


def _diff_all(old, data, new_header, new_body, cut, patch):
    """The header changed: every row of both versions is compared on the columns both headers share."""
    dialect = old.dialect
    old_header, header = old.header or [], new_header or []
    shared = [name for name in dict.fromkeys(header) if name in set(old_header)]
    if _plain(old.data, old.body, len(old.data)) and _plain(data, new_body, len(data)):
        # Plain lines are split at the delimiter, keyed one by one, and only the rows that differ are kept.
        old_lines, new_lines = _plain_lines(old.data, old.body, dialect), _plain_lines(data, new_body, dialect)
        terminated = (not data or data.endswith(LINE_ENDS)) and not cut
        version = Version(data, new_header, new_body, len(new_lines), terminated,
                          _line_checkpoints(data, [new_body]), dialect)
        new_lines, missing_lines = _difference(old_lines, new_lines,
                                               _plain_keys(old_lines, old_header, shared, dialect.delimiter),
                                               _plain_keys(new_lines, header, shared, dialect.delimiter))
        new_rows = [line.split(dialect.delimiter) for line in new_lines]
        missing_rows = [line.split(dialect.delimiter) for line in missing_lines]
    else:
        old_side = _Side(old.data, old.body, [old.body], dialect)
        new_side = _Side(data, new_body, [new_body], dialect, cut=cut)
        old_side.run(0)
        new_side.run(0)
        version = Version(data, new_header, new_body, new_side.count, new_side.terminated, new_side.checkpoints,
                          dialect)
        old_rows, new_rows = _parse(old_side.rows, dialect), _parse(new_side.rows, dialect)
        new_rows, missing_rows = _difference(old_rows, new_rows, list(map(_row_key(old_header, shared), old_rows)),
                                             list(map(_row_key(header, shared), new_rows)))
    columns = None
    if old.header is not None and version.header is not None:
        columns = column_change(old.header, version.header)
    return Change(new_rows, missing_rows, version.rows, patch, columns), version


def column_change(previous, header):
    """The Columns from ``previous`` to ``header``."""
    names = set(header)
    previous_names = set(previous)
    added = [name for name in dict.fromkeys(header) if name not in previous_names]
    removed = [name for name in dict.fromkeys(previous) if name not in names]
    order = [name for name in dict.fromkeys(header) if name in previous_names]
    previous_order = [name for name in dict.fromkeys(previous) if name in names]
    return Columns(added, removed, order != previous_order, list(previous), list(header))


class _Reader:
    """csv.reader over ``data`` from the record start ``start``, decoded a chunk at a time; iterating gives
    (end offset, fields) for each record, blank ones (``[]``) included.

    ``exhausted`` turns true when csv.reader asked for a line after the last one: read right after a record,
    it tells that this last record was cut off by the end of the data inside a quoted field.
    """

    def __init__(self, data, start, dialect, chunk=None):
        self.data = data
        self._lines = _Lines(data, start, dialect, chunk or CHUNK)
        self._reader = dialect.reader(self._lines.texts())

    @property
    def exhausted(self):
        return self._lines.exhausted

    def __iter__(self):
        reader, lines = self._reader, self._lines
        for fields in reader:
            # csv.reader returns a record as soon as the line that ends it is read: the last line handed out.
            yield lines.ends[reader.line_num - 1 - lines.first], fields


class _Lines:
    """The lines of ``data`` from ``start``, decoded, a chunk (of about ``chunk`` bytes, to a line end) at a time,
    and where the lines of the current chunk end (``ends``; ``first`` is the number of lines before that chunk).

    Lines are split as bytes and decoded one by one: a text stream would hold a chunk as four bytes a character
    (a 100 MB field took 400 MB). The generator refers to this object and not to the _Reader, so that a reader
    dropped half-way is freed at once, not by a later garbage collection.
    """

    def __init__(self, data, start, dialect, chunk):
        self.data = data
        self.start = start
        self.dialect = dialect
        self.chunk = chunk
        self.ends = []
        self.first = 0
        self.exhausted = False

    def texts(self):
        data, start, dialect = self.data, self.start, self.dialect
        while start < len(data):
            stop = _line_end_after(data, start + self.chunk)
            # bytes.splitlines splits at the three line ends csv knows (``\n``, ``\r\n``, ``\r``), as a
            # newline="" text stream does.
            lines = data[start:stop].splitlines(True)
            self.first += len(self.ends)
            self.ends = list(itertools.accumulate(map(len, lines), initial=start))[1:]
            if start == 0:
                yield dialect.decode(lines.pop(0), True)
            yield from map(bytes.decode, lines, itertools.repeat(dialect.encoding))
            start = stop
        self.exhausted = True


class _Side:
    """One version being parsed from the record start ``start``: where it stands, its rows (as raw records,
    if ``keep_rows``) and their count, whether its last record is finished (``cut``: the header was
    already cut off inside quotes) and the checkpoints passed, appended to ``checkpoints``."""

    def __init__(self, data, start, checkpoints, dialect, keep_rows=True, cut=False):
        self.data = data
        self.position = start
        self.rows = [] if keep_rows else None
        self.count = 0
        self.terminated = (not data or data.endswith(LINE_ENDS)) and not cut
        self.checkpoints = checkpoints
        self._reader = _Reader(data, start, dialect)
        self._records = iter(self._reader)

    @property
    def left(self):
        return len(self.data) - self.position

    def run(self, left):
        """Read records until at most ``left`` bytes are left (one loop with locals: it may read them all)."""
        stop = len(self.data) - left
        if self.position >= stop:
            return
        data, rows, checkpoints, count = self.data, self.rows, self.checkpoints, self.count
        last = checkpoints[-1]
        start = end = self.position
        for end, fields in self._records:
            if fields:
                count += 1
                if rows is not None:
                    rows.append(data[start:end])
            start = end
            if end - last >= CHECKPOINT_BYTES:
                checkpoints.append(end)
                last = end
            if end >= stop:
                break
        else:
            end = len(data)
        if end == len(data) and self._reader.exhausted:
            self.terminated = False
        self.position, self.count = end, count


def header_of(data, dialect=DEFAULT):
    """The header (first record) of ``data``, the start of a file, and whether it ends before the end of
    ``data`` (else more of the file may belong to it); (None, False) if it has none or it cannot be parsed."""
    try:
        if dialect.transcoded:
            data, dialect = dialect.transcode(data, final=False), dialect.utf8
        header, end, _ = _header(data, dialect)
    except (UnicodeDecodeError, csv.Error):
        return None, False
    return header, end < len(data)


def _header_after(old, data):
    """_header(data) for the next version of ``old``: its header, without parsing it again, when ``data``
    starts with the same header record, ended by the same line end outside quotes (not by the end of the old
    data, and not by a CR that is now half of a CRLF). Parsing 100,000 columns twice was a check's largest
    cost and a fifth of its memory."""
    body = old.body
    end = old.data[body - 1:body]
    ended = body < len(old.data) or old.terminated
    if (old.header is not None and ended and body <= len(data) and end in LINE_ENDS
            and not (end == b"\r" and data[body:body + 1] == NEWLINE) and data[:body] == old.data[:body]):
        return old.header, body, False
    return _header(data, old.dialect)


def _header(data, dialect):
    """The first record of ``data``, the offset after it and whether it was cut off by the end of the data
    inside quotes; (None, 0, False) when there is no record at all."""
    reader = _Reader(data, 0, dialect, chunk=1)  # a line at a time: the line after the header may be huge
    for end, fields in reader:
        return fields, end, end == len(data) and reader.exhausted
    return None, 0, False


def _difference(old_items, new_items, old_keys=None, new_keys=None):
    """The items only in ``new_items`` and only in ``old_items``, in order, comparing them as multisets of their
    keys (lists as long as the items; the items themselves without)."""
    old_keys = old_items if old_keys is None else old_keys
    new_keys = new_items if new_keys is None else new_keys
    if old_keys == new_keys:  # one C loop, no hashing: a column added to rows that kept their order
        return [], []
    old_set, new_set = set(old_keys), set(new_keys)
    if len(old_set) == len(old_keys) and len(new_set) == len(new_keys):
        if old_set == new_set:  # rows only reordered, or a column added: nothing to pick out
            return [], []
        appeared, vanished = new_set - old_set, old_set - new_set
        return ([item for key, item in zip(new_keys, new_items) if key in appeared],
                [item for key, item in zip(old_keys, old_items) if key in vanished])
    old_counts, new_counts = Counter(old_keys), Counter(new_keys)
    return _only(new_counts - old_counts, new_keys, new_items), _only(old_counts - new_counts, old_keys, old_items)


def _only(surplus, keys, items):
    """The first ``surplus[key]`` items of each key, in order."""
    found = []
    for key, item in zip(keys, items):
        if surplus[key] > 0:
            surplus[key] -= 1
            found.append(item)
    return found


def _row_key(header, shared=None):
    """A function giving a hashable form of a row (a list of fields read with ``header``): equal exactly when
    the rows' dicts are equal, or, given ``shared`` columns, when their values in those columns and their extra
    values (under None) are. A row's own tuple of fields serves when the names are unique and no columns are
    left out."""
    if shared is None and len(set(header)) == len(header):
        return tuple

    def key(row):
        return frozenset((name, tuple(value) if isinstance(value, list) else value)
                         for name, value in as_dict(header, row).items())

    def shared_key(row):
        values = as_dict(header, row)
        extra = values.get(None)
        return tuple(values[name] for name in shared) + (None if extra is None else tuple(extra),)
    return key if shared is None else shared_key


def _plain_keys(lines, header, shared, delimiter):
    """The _plain_line_key of each line, computed by C loops (map) when every line has the header's width:
    then a line whose columns are all shared, in order, is its own key."""
    repeat = itertools.repeat(delimiter)
    if set(map(str.count, lines, repeat)) - {len(header) - 1}:
        return list(map(_plain_line_key(header, shared, delimiter), lines))
    if shared == list(header):
        return lines
    if not shared:
        return [""] * len(lines)
    others = len(header) - len(shared)
    first = shared == header[:len(shared)]
    if len(set(header)) == len(header) and (first or shared == header[others:]):
        # The shared columns come first (columns added at the end) or last: the key is the line without the
        # other fields, cut off by one C split per line instead of split, pick and join.
        pieces = map(str.rsplit if first else str.split, lines, repeat, itertools.repeat(others))
        return list(map(operator.itemgetter(0 if first else -1), pieces))
    positions = {name: index for index, name in enumerate(header)}  # the last of a repeated name, as a dict
    picked = map(operator.itemgetter(*[positions[name] for name in shared]), map(str.split, lines, repeat))
    return list(picked) if len(shared) == 1 else list(map(delimiter.join, picked))


def _plain_line_key(header, shared, delimiter):
    """_row_key(header, shared) for a plain line of text, cheaper: a line of the header's width is keyed by its
    values in the ``shared`` columns joined by the delimiter, one-to-one since no field holds the delimiter.
    Other lines get their _row_key, turned into the same joined form when it has no None and no extra values,
    which is when a line of full width could have it."""
    positions = {name: index for index, name in enumerate(header)}  # the last of a repeated name, as a dict
    pick = operator.itemgetter(*[positions[name] for name in shared]) if shared else (lambda fields: ())
    width, join, row_key = len(header), delimiter.join, _row_key(header, shared)

    def key(line):
        fields = line.split(delimiter)
        if len(fields) == width:
            values = pick(fields)
            return values if isinstance(values, str) else join(values)
        values = row_key(fields)
        return join(values[:-1]) if values[-1] is None and None not in values[:-1] else values
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
