"""The oracle (csv.DictReader), the writers people use, and a watcher driven through them on a test clock.

Used by tests/test_oracle.py (generated files and edits) and tests/test_real_files.py (files nobody here wrote).
"""
import csv
import functools
import io
import os
from collections import Counter

from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.patterns.csv_watcher_pattern.watcher import QUIET_SECONDS, CsvWatcher

#: How far the test clock moves at each tick during a write: a writer's pauses stay shorter than the quiet
#: period, so none of its intermediate states may be reported unless it is a finished append.
TICK_SECONDS = QUIET_SECONDS * 0.4


def dictreader(data, dialect=DEFAULT):
    """csv.DictReader over ``data`` opened as the README says: in the dialect's encoding (UTF-8 dropping a BOM)
    and with its delimiter."""
    text = data.decode("utf-8-sig" if dialect.encoding == "utf-8" else dialect.encoding)
    return csv.DictReader(io.StringIO(text, newline=""), delimiter=dialect.delimiter)


def dictreader_rows(data, dialect=DEFAULT):
    """The truth: what csv.DictReader reads from ``data``."""
    return list(dictreader(data, dialect))


def row_count(data, dialect=DEFAULT):
    """How many rows csv.DictReader reads from ``data`` (from row_counts' cache)."""
    return sum(row_counts(data, dialect)[0].values())


def row_counts(data, dialect=DEFAULT):
    """_row_counts, whose cache sees the dialect given or not as one key."""
    return _row_counts(data, dialect)


@functools.lru_cache(maxsize=4)
def _row_counts(data, dialect):
    """The multiset of the rows of ``data`` as row_values, and the header (cached: an edit's new content is the
    next one's old)."""
    reader = dictreader(data, dialect)
    return Counter(map(row_values, reader)), reader.fieldnames


def row_values(row):
    """A DictReader row as a hashable value: the tuple of its values, or its repr if it has extra values (a list
    under the key None). Rows of one header have the same keys in one order, so two rows of one header are equal
    exactly when these are; the keys of reported rows are checked apart (check_edit). Three times cheaper than
    repr, which was most of the time the oracle took on a 58,788-row file."""
    return tuple(row.values()) if None not in row else repr(row)


def checked_values(header, row):
    """row_values of a reported row of a version with ``header``, once its keys are checked to be the header's
    names, in order (with the extra values' None last): row_values alone does not look at the keys."""
    names = list(dict.fromkeys(header or []))
    assert list(row) in (names, names + [None]), "a row with the keys %r, not the header's %r" % (list(row), names)
    return row_values(row)


def shared_values(old_header, new_header):
    """A function giving the values of a DictReader row in the columns both headers have (in the new header's
    order) and its extra values: what rows are compared on when the header changed."""
    shared = [name for name in dict.fromkeys(new_header or []) if name in (old_header or [])]

    def values(row):
        extra = row.get(None)
        return tuple(row[name] for name in shared) + (None if extra is None else tuple(extra),)
    return values


def expected_change(old, new, dialect=DEFAULT):
    """The multiset difference of DictReader rows: (key, new rows, missing rows), the rows as a Counter of
    ``key(row)``: checked_values when both versions have the same header, else their shared_values."""
    (old_rows, old_header), (new_rows, new_header) = row_counts(old, dialect), row_counts(new, dialect)
    if old_header == new_header:
        return functools.partial(checked_values, old_header), new_rows - old_rows, old_rows - new_rows
    key = shared_values(old_header, new_header)
    old_rows = Counter(map(key, dictreader_rows(old, dialect)))
    new_rows = Counter(map(key, dictreader_rows(new, dialect)))
    return key, new_rows - old_rows, old_rows - new_rows


class Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


class Watched:
    """A CsvWatcher of ``path`` on a test clock, collecting the rows it reports."""

    def __init__(self, path, restored=None):
        self.clock = Clock()
        self.new, self.missing = [], []
        self.baselines = []
        self.watcher = CsvWatcher(str(path), 1, on_started=lambda watcher: None, on_baseline=self._baseline,
                                  on_change=self._change, clock=self.clock)
        if restored is not None:
            self.watcher.restore(restored)
        self.content = restored

    def tick(self):
        """One check, then time passes (less than the quiet period)."""
        self.watcher.check()
        self.clock.advance(TICK_SECONDS)

    def written(self):
        """A write notification while the writer still has the file open, a check, then time passes."""
        self.watcher.notify(closed=False)
        self.tick()

    def closed(self):
        """The close notification that ends a write (or the move that puts a file in place), and a check."""
        self.watcher.notify(closed=True)
        self.watcher.check()

    def settle(self):
        """Check, let the quiet period pass with the file unchanged, check again: the write is over."""
        self.watcher.check()
        self.clock.advance(QUIET_SECONDS)
        self.watcher.check()

    def take(self):
        """(new, missing) reported since the last take."""
        reported = self.new, self.missing
        self.new, self.missing = [], []
        return reported

    def _baseline(self, watcher, content):
        self.baselines.append(content)
        self.content = content

    def _change(self, watcher, change, content):
        self.new.extend(change.new_rows)
        self.missing.extend(change.missing_rows)
        self.content = content


def in_place(path, old, new, tick):
    """Rewrite the file's bytes in place with one write (an editor saving, ``cp`` over it)."""
    with open(path, "r+b") as stream:
        stream.write(new)
        stream.truncate()


def atomic(path, old, new, tick):
    """Write a temporary file and rename it over the file (``sed -i``, most editors and exporters)."""
    temporary = "%s.tmp" % path
    with open(temporary, "wb") as stream:
        stream.write(new)
    os.replace(temporary, path)


def appending(path, old, new, tick):
    """Append the new bytes (``cat >>``, a logger); other edits are written in place."""
    if not new.startswith(old):
        return in_place(path, old, new, tick)
    with open(path, "ab") as stream:
        stream.write(new[len(old):])


def slow_rewrite(path, old, new, tick):
    """Truncate, then write the new content in five chunks with a tick between each."""
    with open(path, "wb") as stream:
        stream.flush()
        tick()
        step = max(1, -(-len(new) // 5))
        for start in range(0, len(new), step):
            stream.write(new[start:start + step])
            stream.flush()
            tick()


def two_halves(path, old, new, tick):
    """Append the new bytes in two halves, with ticks between them: the first half ends after the first line end
    of the new bytes (inside quotes, if a quoted field holds one), or in the middle if there is none. Other edits
    are written in place."""
    if not new.startswith(old) or len(new) - len(old) < 2:
        return in_place(path, old, new, tick)
    line_ends = [offset for offset in (new.find(b"\n", len(old)), new.find(b"\r", len(old))) if offset >= 0]
    middle = min(line_ends) + 1 if line_ends else len(old) + (len(new) - len(old)) // 2
    if middle >= len(new):
        middle = len(old) + (len(new) - len(old)) // 2
    with open(path, "ab") as stream:
        stream.write(new[len(old):middle])
        stream.flush()
        tick()
        tick()
        stream.write(new[middle:])


WRITERS = {writer.__name__: writer for writer in (in_place, atomic, appending, slow_rewrite, two_halves)}


def check_edit(watched, path, old, new, writer, notified=False):
    """Write ``new`` over ``old`` with ``writer`` while the watcher ticks, let it settle, and assert that what it
    reported is exactly the DictReader difference and that it now holds ``new``.

    ``notified``: the watcher also gets the notifications the kernel would send, a write notification at each
    tick and a close once the writer is done. Then a new content whose last row is finished must be reported
    in full at the close, before any quiet period."""
    key, expected_new, expected_missing = expected_change(old, new)

    def reported():
        return tuple(Counter(map(key, rows)) for rows in watched.take())
    writer(path, old, new, watched.written if notified else watched.tick)
    at_close = None
    if notified:
        watched.closed()
        if read(new).terminated:
            at_close = reported()
            assert at_close == (expected_new, expected_missing), (
                "%s of %r to %r reported new %r and missing %r at the close" % (
                    writer.__name__, old, new, *at_close))
    watched.tick()
    watched.settle()
    new_rows, missing_rows = reported()
    if at_close is not None:
        assert (new_rows, missing_rows) == (Counter(), Counter()), "reported again after the close"
    else:
        assert (new_rows, missing_rows) == (expected_new, expected_missing), (
            "%s of %r to %r reported new %r and missing %r" % (writer.__name__, old, new, new_rows, missing_rows))
    assert watched.watcher.rows == row_count(new)
    assert watched.content == new
