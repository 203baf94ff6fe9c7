"""Records found in a file's bytes and parsed by ``csv.reader`` itself, from any record start.

The parsing is ``csv.reader``, so there is no second set of rules to get wrong; what this module adds is where
to start and stop it. A :class:`Side` reads one version from a record start, counts its rows, keeps them as raw
records (bytes) and remembers a record start about every ``CHECKPOINT_BYTES``: the diff (csv_diff.py) starts
there, just before a change. *Plain* data (no quote, CR or NUL) needs no parser to find its records: they are its
lines, which the fast paths (plain.py) compare as bytes.
"""
import io
import itertools

#: Bytes decoded and handed to csv.reader at a time (rounded up to the end of a line).
CHUNK = 1 << 16
#: Distance between two remembered record starts: a diff parses about this much before a change.
CHECKPOINT_BYTES = 1 << 16
NEWLINE = b"\n"
LINE_ENDS = (NEWLINE, b"\r")


def is_finished(data, cut=False):
    """Whether the last record of ``data`` is finished: ``data`` is empty or ends with a line end, and that line
    end is not inside quotes (``cut``: the last record was cut off by the end of the data inside a quoted field),
    so appending bytes cannot change its last row."""
    return (not data or data.endswith(LINE_ENDS)) and not cut


def is_plain(data, start, end):
    """True when ``data[start:end]`` holds no quote, CR or NUL: its records are its lines."""
    return all(data.find(byte, start, end) < 0 for byte in (b'"', b"\r", b"\0"))


def count_rows(records):
    """The rows among raw records: all but the blank ones."""
    return len(records) - records.count(b"")


def parse_records(records, dialect):
    """The fields of raw records, blank ones left out. Records are read from their starts and each ends with a
    line end outside quotes (or is the last of its file, and then last here too), so one reader over them
    joined by line ends reads each as it was read in its file."""
    joined = NEWLINE.join(records)
    plain = is_plain(joined, 0, len(joined))
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


def plain_lines(data, start, dialect):
    """The non-blank lines of plain ``data`` from ``start``, decoded."""
    return [line for line in dialect.decode(data[start:], start == 0).split("\n") if line]


def line_checkpoints(data, checkpoints, end=None):
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


def first_record(data, dialect):
    """The first record of ``data``, the offset after it and whether it was cut off by the end of the data
    inside quotes; (None, 0, False) when there is no record at all."""
    reader = Reader(data, 0, dialect, chunk=1)  # a line at a time: the line after the header may be huge
    for end, fields in reader:
        return fields, end, end == len(data) and reader.exhausted
    return None, 0, False


class Reader:
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
    (a 100 MB field took 400 MB). The generator refers to this object and not to the Reader, so that a reader
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
            stop = line_end_after(data, start + self.chunk)
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


class Side:
    """One version being parsed from the record start ``start``: where it stands, its rows (as raw records,
    if ``keep_rows``) and their count, whether its last record is finished (``cut``: the header was
    already cut off inside quotes) and the checkpoints passed, appended to ``checkpoints``."""

    def __init__(self, data, start, checkpoints, dialect, keep_rows=True, cut=False):
        self.data = data
        self.position = start
        self.rows = [] if keep_rows else None
        self.count = 0
        self.terminated = is_finished(data, cut)
        self.checkpoints = checkpoints
        self._reader = Reader(data, start, dialect)
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


def line_end_after(data, offset):
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
