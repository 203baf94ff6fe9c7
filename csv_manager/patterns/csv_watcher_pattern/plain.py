"""The fast paths for plain text: data without a quote, CR or NUL, where every line is a record.

Most CSV files are plain in the parts that change. There lines are compared as bytes (a row edited in place) or
split at the delimiter by C loops (a header change), and ``csv.reader`` reads only the lines that differ; every
result equals what the general path (records.py, multiset.py) finds, which the oracle tests check.
"""
import itertools
import operator

from csv_manager.patterns.csv_watcher_pattern.multiset import changed_rows, row_key
from csv_manager.patterns.csv_watcher_pattern.records import (
    NEWLINE, count_rows, is_finished, is_plain, line_checkpoints)
from csv_manager.patterns.csv_watcher_pattern.rows import positions
from csv_manager.patterns.csv_watcher_pattern.version import Version, shifted


def plain_distance(old, new, old_start, new_start, synced):
    """Where both changed regions may end when they hold no quote, CR or NUL: the distance from the end of the
    first line end in the common suffix (0 for the end of the data); None if a region is not plain.

    In plain text every ``\\n`` ends a record, so both parsers are in step from that line end on.
    """
    line_end = old.find(NEWLINE, len(old) - synced)
    distance = 0 if line_end < 0 else len(old) - line_end - 1
    if is_plain(old, old_start, len(old) - distance) and is_plain(new, new_start, len(new) - distance):
        return distance
    return None


def diff_plain(old, data, new_body, old_start, new_start, distance, checkpoints, cut):
    """The diff of plain regions (see plain_distance): their lines are compared as bytes, at C speed, and only
    the lines that differ are parsed. Returns the new and the missing rows (lists of fields) and the Version of
    ``data``."""
    old_end, new_end = len(old.data) - distance, len(data) - distance
    old_records = old.data[old_start:old_end].split(NEWLINE)
    new_records = data[new_start:new_end].split(NEWLINE)
    terminated = is_finished(data, cut) if distance == 0 else old.terminated
    version = Version(data, old.header, new_body, old.rows - count_rows(old_records) + count_rows(new_records),
                      terminated, shifted(old, data, line_checkpoints(data, checkpoints, new_end), old_end),
                      old.dialect)
    new_rows, missing_rows = changed_rows(old.header, old_records, new_records, old.dialect, plain=True)
    return new_rows, missing_rows, version


def plain_keys(lines, header, shared, delimiter):
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
    at = positions(header)
    picked = map(operator.itemgetter(*[at[name] for name in shared]), map(str.split, lines, repeat))
    return list(picked) if len(shared) == 1 else list(map(delimiter.join, picked))


def _plain_line_key(header, shared, delimiter):
    """row_key(header, shared) for a plain line of text, cheaper: a line of the header's width is keyed by its
    values in the ``shared`` columns joined by the delimiter, one-to-one since no field holds the delimiter.
    Other lines get their row_key, turned into the same joined form when it has no None and no extra values,
    which is when a line of full width could have it."""
    at = positions(header)
    pick = operator.itemgetter(*[at[name] for name in shared]) if shared else (lambda fields: ())
    width, join, keyed = len(header), delimiter.join, row_key(header, shared)

    def key(line):
        fields = line.split(delimiter)
        if len(fields) == width:
            values = pick(fields)
            return values if isinstance(values, str) else join(values)
        values = keyed(fields)
        return join(values[:-1]) if values[-1] is None and None not in values[:-1] else values
    return key
