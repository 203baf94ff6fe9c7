"""Rows compared as a multiset, as csv.DictReader's dicts compare: which rows are only in the new version and
which only in the old, in file order.

A row that now appears twice where it appeared once is one new row, and a changed row is one missing row plus
one new row (keys.py then pairs them by a key). Rows are compared first as their raw bytes, then, for the few
that differ, as their fields: a row merely re-quoted is no change.
"""
import itertools
import operator
from collections import Counter

from csv_manager.patterns.csv_watcher_pattern.dialect import UTF8
from csv_manager.patterns.csv_watcher_pattern.records import parse_records
from csv_manager.patterns.csv_watcher_pattern.rows import as_dict


def changed_rows(header, old_records, new_records, dialect, plain=False):
    """The rows only in ``new_records`` and only in ``old_records`` (raw records, both read with ``header``), as
    lists of fields in file order. The raw bytes are compared first, at C speed; only the records that differ
    are parsed and compared again, so a row that was merely re-quoted, or got another line end, is no change.
    ``plain`` records (lines without quotes, CRs and NULs) need no second comparison when they are UTF-8 and the
    header's names are unique: then two lines are equal exactly when their rows are."""
    appeared, vanished = difference(*_unpaired(old_records, new_records))
    missing_rows, new_rows = parse_records(vanished, dialect), parse_records(appeared, dialect)
    if not (plain and dialect.encoding in UTF8 and len(set(header)) == len(header)):
        key = row_key(header)
        new_rows, missing_rows = difference(missing_rows, new_rows, list(map(key, missing_rows)),
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


def difference(old_items, new_items, old_keys=None, new_keys=None):
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


def row_key(header, shared=None):
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
