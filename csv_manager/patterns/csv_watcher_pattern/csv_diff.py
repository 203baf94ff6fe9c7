"""Which rows appeared in a CSV file and which went missing, between two versions of its bytes.

Rows compare as a multiset: a row that now appears twice where it appeared once is one new row, and a changed
row is one missing row plus one new row. Rows become dicts keyed by the header, as ``csv.DictReader`` makes them
(extra values under the key ``None``, absent values as ``None``); blank lines are not rows.

The work is proportional to the changed region, not to the file. The two versions share a prefix and a suffix
that are found by comparing 64 KiB blocks (memcmp speed), then trimmed to record boundaries. Only the records
in between are split, compared as sets (or counted, when some repeat) and the differing ones parsed. An append
or a one-row edit in a 500,000-row file therefore costs about one read of the file; a change at both ends costs
one split and comparison of all records, still linear.

Records are the bytes between newlines that are outside double quotes, so a quoted field may hold newlines.
Raw records are compared first and only the differing ones are parsed; their parsed rows are then compared
again, so a row that was merely re-quoted (``a,"b"`` vs ``a,b``) is not reported as changed.
"""
import csv
from collections import Counter
from dataclasses import dataclass, field

NEWLINE = b"\n"
QUOTE = b'"'
BLOCK = 1 << 16
_NOT_QUOTE_OR_NEWLINE = bytes(byte for byte in range(256) if byte not in NEWLINE + QUOTE)


class HeaderChanged(Exception):
    """The first record differs, so the rows of the two versions are not comparable."""

    def __init__(self, old_header, new_header):
        super().__init__("header changed from %s to %s" % (old_header, new_header))
        self.old_header = old_header
        self.new_header = new_header


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
    that turns the old version's bytes into the new one's (None when the bytes are equal)."""

    new_rows: list = field(default_factory=list)
    missing_rows: list = field(default_factory=list)
    rows: int = 0
    patch: Patch = None

    def __bool__(self):
        return bool(self.new_rows or self.missing_rows)


def parse_records(data):
    """Parse raw record bytes (UTF-8, optionally with a BOM) into lists of strings; blank records are skipped.

    Raises UnicodeDecodeError for bytes that are not UTF-8 and csv.Error for malformed quoting.
    """
    text = data.decode("utf-8-sig")
    return [row for row in csv.reader(text.splitlines(True), strict=True) if row]


def as_dict(header, row):
    """One row as csv.DictReader returns it."""
    values = dict(zip(header, row))
    if len(row) > len(header):
        values[None] = row[len(header):]
    for name in header[len(row):]:
        values[name] = None
    return values


def _quotes_balanced_per_line(data):
    """True when every line holds an even number of quotes, so no quoted field spans a newline."""
    if QUOTE not in data:
        return True
    # Keep only quotes and newlines: each line becomes a run of quotes, and removing pairs leaves one quote
    # exactly where a line has an odd count.
    return QUOTE not in data.translate(None, _NOT_QUOTE_OR_NEWLINE).replace(QUOTE + QUOTE, b"")


def split_records(data):
    """The raw records of ``data`` that are not blank lines, newline separators removed.

    A final record needs no newline.
    """
    lines = data.split(NEWLINE)
    if _quotes_balanced_per_line(data):
        return _without_blanks(lines)
    records, pending = [], []
    for line in lines:
        pending.append(line)
        if sum(part.count(QUOTE) for part in pending) % 2 == 0:
            records.append(NEWLINE.join(pending))
            pending = []
    if pending:
        records.append(NEWLINE.join(pending))
    return _without_blanks(records)


def _without_blanks(records):
    if b"" in records or b"\r" in records:
        return [record for record in records if record not in (b"", b"\r")]
    return records


def _is_record_start(data, offset):
    """True when ``offset`` is 0 or follows a newline that is outside quotes."""
    return offset == 0 or (data[offset - 1:offset] == NEWLINE and data.count(QUOTE, 0, offset) % 2 == 0)


def complete_length(data):
    """Length of the part of ``data`` that ends with a complete record (a newline outside quotes)."""
    end = data.rfind(NEWLINE) + 1
    while end > 0 and not _is_record_start(data, end):
        end = data.rfind(NEWLINE, 0, end - 1) + 1
    return end


def header_length(data):
    """Length of the first record of ``data`` including its newline (all of ``data`` if it has only one)."""
    end = data.find(NEWLINE) + 1
    while end > 0 and not _is_record_start(data, end):
        end = data.find(NEWLINE, end) + 1
    return end or len(data)


def read_header(data):
    """The header of a CSV file's bytes as a list of names; [] for an empty file."""
    rows = parse_records(data[:header_length(data)])
    return rows[0] if rows else []


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


def _changed_regions(old, new):
    """The (start, end) offsets in ``old`` and in ``new`` of the records between the common prefix and suffix.

    Both versions must have the same header record, and both regions start and end on record boundaries.
    """
    body = header_length(old)
    limit = min(len(old), len(new))
    prefix = _common_prefix(old, new, limit)
    while not _is_record_start(old, prefix):
        prefix = old.rfind(NEWLINE, 0, prefix - 1) + 1
    old_start = new_start = max(prefix, body)

    suffix = _common_suffix(old, new, min(len(old) - old_start, len(new) - new_start))
    old_end, new_end = len(old) - suffix, len(new) - suffix
    while not (_is_record_start(old, old_end) and _is_record_start(new, new_end)):
        step = old.find(NEWLINE, old_end, len(old)) + 1 - old_end
        if step <= 0:
            old_end, new_end = len(old), len(new)
            break
        old_end, new_end = old_end + step, new_end + step
    return (old_start, old_end), (new_start, new_end)


def diff(old, new, old_rows):
    """Compare two versions of a CSV file's bytes; ``old_rows`` is the row count of ``old``.

    Raises HeaderChanged when the first records parse differently, UnicodeDecodeError or csv.Error when a
    changed record cannot be parsed. Both versions should end on a record boundary (see complete_length).
    """
    old_header, new_header = read_header(old), read_header(new)
    if old_header != new_header:
        raise HeaderChanged(old_header, new_header)
    if old == new:
        return Change(rows=old_rows)

    if old[:header_length(old)] != new[:header_length(new)]:
        (old_start, old_end), (new_start, new_end) = (header_length(old), len(old)), (header_length(new), len(new))
        patch = Patch(0, len(old), new)
    else:
        (old_start, old_end), (new_start, new_end) = _changed_regions(old, new)
        patch = Patch(old_start, old_end, new[new_start:new_end])
    appeared, vanished = _record_difference(split_records(old[old_start:old_end]),
                                            split_records(new[new_start:new_end]))
    appeared, vanished = _rows(appeared), _rows(vanished)
    new_rows = [as_dict(new_header, list(row)) for row in (appeared - vanished).elements()]
    missing_rows = [as_dict(old_header, list(row)) for row in (vanished - appeared).elements()]
    return Change(new_rows, missing_rows, old_rows + len(new_rows) - len(missing_rows), patch)


def _record_difference(old_records, new_records):
    """The multisets (Counters) of records only in ``new_records`` and only in ``old_records``, in file order.

    Without repeated records, set differences decide (several times faster than subtracting Counters); with
    repeats, the counts must be compared.
    """
    old_set, new_set = set(old_records), set(new_records)
    if len(old_set) == len(old_records) and len(new_set) == len(new_records):
        appeared, vanished = new_set - old_set, old_set - new_set
        return (Counter([record for record in new_records if record in appeared]),
                Counter([record for record in old_records if record in vanished]))
    old_counts, new_counts = Counter(old_records), Counter(new_records)
    return new_counts - old_counts, old_counts - new_counts


def _rows(records):
    """The multiset of parsed rows of a multiset of raw records."""
    rows = Counter()
    for record, count in records.items():
        for row in parse_records(record):
            rows[tuple(row)] += count
    return rows
