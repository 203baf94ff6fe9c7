"""Which rows appeared in a CSV file and which went missing between two versions of its bytes, exactly as
``csv.DictReader`` reads them: :func:`diff`.

The oracle is ``csv.DictReader(open(path, newline="", encoding="utf-8-sig"), delimiter=",")``, with another
delimiter and encoding where a :class:`~.dialect.Dialect` says so: a leading UTF-8 BOM is dropped (a U+FEFF
anywhere else is data), lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` outside quotes (never at U+2028, form
feed and the other separators ``str.splitlines`` knows), quoting is not strict, blank lines are not rows, the
first record is the header, extra values go under the key ``None`` and absent ones are ``None``. Rows compare as
a multiset of those dicts (multiset.py; keys.py for rows matched by a key). When the header changes, rows compare
on the columns both headers share (a new column alone changes no row; a reorder changes nothing) and the Change
tells which columns came and went.

A :class:`~.version.Version` remembers, about every ``CHECKPOINT_BYTES``, an offset where a record starts. A
diff skips the common prefix of the two versions at memcmp speed, starts both parsers (records.py) at the last
checkpoint before it, and stops them as soon as they stand at record starts the same distance from the end
inside the common suffix: from there on the parser sees the same bytes in the same state, so it would read the
same rows. An append or a one-row edit in a 500,000-row file therefore parses a few kilobytes; a change at both
ends parses everything once, still linear. Where both changed regions are plain text, plain.py compares lines
as bytes instead.
"""
import bisect
import dataclasses
from dataclasses import dataclass, field

from csv_manager.patterns.csv_watcher_pattern.gc_pause import gc_paused
from csv_manager.patterns.csv_watcher_pattern.keys import match_keys
from csv_manager.patterns.csv_watcher_pattern.multiset import changed_rows, difference, row_key
from csv_manager.patterns.csv_watcher_pattern.plain import diff_plain, plain_distance, plain_keys
from csv_manager.patterns.csv_watcher_pattern.records import (
    Side, is_finished, is_plain, line_checkpoints, parse_records, plain_lines)
from csv_manager.patterns.csv_watcher_pattern.rows import as_dicts, shared_columns
from csv_manager.patterns.csv_watcher_pattern.version import Version, header_after, shifted

#: Bytes compared at a time when looking for the common prefix and suffix.
BLOCK = 1 << 16


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
    new_header, new_body, cut = header_after(old, data)
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
    distance = plain_distance(old.data, data, old_start, new_start, synced)
    if distance is not None:
        new_rows, missing_rows, version = diff_plain(old, data, new_body, old_start, new_start, distance,
                                                     checkpoints, cut)
        return Change(new_rows, missing_rows, version.rows, patch), version
    old_side = Side(old.data, old_start, [old_start], dialect)
    new_side = Side(data, new_start, checkpoints, dialect, cut=cut)
    old_side.run(synced)
    new_side.run(synced)
    while old_side.left != new_side.left:
        behind, ahead = (old_side, new_side) if old_side.left > new_side.left else (new_side, old_side)
        behind.run(ahead.left)

    terminated = new_side.terminated if new_side.left == 0 else old.terminated
    version = Version(data, new_header, new_body, old.rows - old_side.count + new_side.count, terminated,
                      shifted(old, data, new_side.checkpoints, old_side.position), dialect)
    new_rows, missing_rows = changed_rows(old.header, old_side.rows, new_side.rows, dialect)
    return Change(new_rows, missing_rows, version.rows, patch), version


def _patch(old, new):
    """The Patch from the bytes ``old`` to ``new``, and the lengths of their common prefix and suffix."""
    prefix = _common_prefix(old, new, min(len(old), len(new)))
    suffix = _common_suffix(old, new, min(len(old), len(new)) - prefix)
    return Patch(prefix, len(old) - suffix, new[prefix:len(new) - suffix]), prefix, suffix


def _diff_all(old, data, new_header, new_body, cut, patch):
    """The header changed: every row of both versions is compared on the columns both headers share."""
    dialect = old.dialect
    old_header, header = old.header or [], new_header or []
    shared = shared_columns(old_header, header)
    if is_plain(old.data, old.body, len(old.data)) and is_plain(data, new_body, len(data)):
        # Plain lines are split at the delimiter, keyed one by one, and only the rows that differ are kept.
        old_lines, new_lines = plain_lines(old.data, old.body, dialect), plain_lines(data, new_body, dialect)
        terminated = is_finished(data, cut)
        version = Version(data, new_header, new_body, len(new_lines), terminated,
                          line_checkpoints(data, [new_body]), dialect)
        new_lines, missing_lines = difference(old_lines, new_lines,
                                              plain_keys(old_lines, old_header, shared, dialect.delimiter),
                                              plain_keys(new_lines, header, shared, dialect.delimiter))
        new_rows = [line.split(dialect.delimiter) for line in new_lines]
        missing_rows = [line.split(dialect.delimiter) for line in missing_lines]
    else:
        old_side = Side(old.data, old.body, [old.body], dialect)
        new_side = Side(data, new_body, [new_body], dialect, cut=cut)
        old_side.run(0)
        new_side.run(0)
        version = Version(data, new_header, new_body, new_side.count, new_side.terminated, new_side.checkpoints,
                          dialect)
        old_rows, new_rows = parse_records(old_side.rows, dialect), parse_records(new_side.rows, dialect)
        new_rows, missing_rows = difference(old_rows, new_rows, list(map(row_key(old_header, shared), old_rows)),
                                            list(map(row_key(header, shared), new_rows)))
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
