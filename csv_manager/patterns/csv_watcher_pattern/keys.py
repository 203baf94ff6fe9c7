"""Rows matched by a key: a new row and a missing row with the same key values are one changed row.

The diff (csv_diff.py) finds the rows that appeared and went missing as a multiset, which is all a file without
a key can say. With a key (one or more columns, like ``csv-diff --key``) a row whose key values are among both
the missing and the new rows is reported once, as changed, with only the fields that differ. The rows are
compared on the columns both headers have, as the diff compares them; a field is changed when its value (or
its absence, None) differs, and extra values beyond the header count as the field None.

Rows are matched only where the key says which row is which: a key value carried by more than one new row or
more than one missing row leaves those rows as they are, new and missing (and a key value on two new rows is
worth a warning even when no row went missing), and so does a key column that is not in both headers.
:func:`match_keys`, which csv_diff.diff calls, tells which of these happened (``Change.unmatched``), so that
the watcher can warn once.
"""
import itertools
import operator
from collections import Counter
from dataclasses import dataclass

from csv_manager.patterns.csv_watcher_pattern.rows import as_dict, positions, shared_columns

#: Why rows were left unmatched (see :class:`Unmatched`).
MISSING_COLUMNS = "missing columns"
REPEATED_KEY = "repeated key"


@dataclass(frozen=True)
class Unmatched:
    """Rows left new and missing: ``reason`` is MISSING_COLUMNS (``detail``: the key columns not in both
    headers) or REPEATED_KEY (``detail``: the first key, as a dict, on more than one new or missing row)."""

    reason: str
    detail: object


def match_keys(change, key, old_header, new_header):
    """Move the rows of ``change`` that ``key`` matches from its new and missing rows into its changed rows, in
    the new rows' order. Called by csv_diff.diff, which pauses the garbage collector around it: the rows are
    still lists of fields here, the new ones read with ``new_header`` and the missing ones with ``old_header``
    (lists, empty for a file without records; diff makes the rows dicts afterwards): a matched pair is compared
    field by field, and its missing row never becomes a dict. Returns the Unmatched reasons found (an empty
    list when every row could be matched)."""
    absent = [name for name in key if name not in old_header or name not in new_header]
    if absent:
        return [Unmatched(MISSING_COLUMNS, absent)] if change.new_rows or change.missing_rows else []
    new_keys, missing_keys = _keys(change.new_rows, key, new_header), _keys(change.missing_rows, key, old_header)
    (unique_new, all_new), (unique_missing, all_missing) = _unique(new_keys), _unique(missing_keys)
    matched = unique_new & unique_missing
    missing_by_key = dict(zip(missing_keys, change.missing_rows))  # looked up only for matched keys
    matched_keys, matched_rows = new_keys, change.new_rows
    if len(matched) < len(new_keys):
        pairs = [(values, row) for values, row in zip(new_keys, change.new_rows) if values in matched]
        matched_keys, matched_rows = [values for values, _ in pairs], [row for _, row in pairs]
        change.new_rows = [row for values, row in zip(new_keys, change.new_rows) if values not in matched]
    else:  # every new row is matched (rows edited in place): nothing to pick out
        change.new_rows = []
    change.changed_rows = _changed_pairs(key, old_header, new_header, matched_keys,
                                         list(map(missing_by_key.__getitem__, matched_keys)), matched_rows)
    if len(matched) < len(missing_keys):
        change.missing_rows = [row for values, row in zip(missing_keys, change.missing_rows) if values not in matched]
    else:
        change.missing_rows = []
    # With no key repeated on either side (the usual case), the keys on both sides are the matched ones.
    both = matched if (all_new, all_missing) == (unique_new, unique_missing) else all_new & all_missing
    if len(unique_new) == len(new_keys) and len(both) == len(matched):
        return []
    repeated = [values for values in new_keys
                if values not in unique_new or (values in both and values not in matched)]
    return [Unmatched(REPEATED_KEY, dict(zip(key, repeated[0])))]


def _keys(rows, key, header):
    """The key values of each row (a list of fields read with ``header``) as a tuple, as its dict would give
    them: the last of a repeated name's fields, None for a field the row is too short to have."""
    at = positions(header)
    columns = [at[name] for name in key]
    if min(map(len, rows), default=0) > max(columns):
        return list(zip(*(map(operator.itemgetter(column), rows) for column in columns)))
    return [tuple(row[column] if column < len(row) else None for column in columns) for row in rows]


def _changed_pairs(key, old_header, new_header, keys, olds, news):
    """The changed rows of matched pairs (their key values, old fields and new fields): each one's key values,
    changed fields as [old, new] and new row as a dict."""
    width = len(new_header)
    lengths = set(map(len, olds)) | set(map(len, news))
    if old_header == new_header and len(set(new_header)) == width and lengths <= {width}:
        return _changed_by_position(key, new_header, keys, olds, news)
    order = None
    if old_header != new_header:
        order = {name: index for index, name in enumerate(shared_columns(old_header, new_header))}
        order[None] = len(order)
    return [_changed_dicts(key, values, as_dict(old_header, old), as_dict(new_header, new), order)
            for values, old, new in zip(keys, olds, news)]


def _changed_by_position(key, header, keys, olds, news):
    """_changed_pairs of rows of one ``header`` with unique names, all of its width: their fields pair up by
    position, and the pairs that differ are picked out in C. One loop for all rows: 50,000 calls of a function
    cost more than the work of each."""
    found = []
    append = found.append
    for values, old, new in zip(keys, olds, news):
        changes = {}
        for name, old_value, new_value in itertools.compress(zip(header, old, new), map(operator.ne, old, new)):
            changes[name] = [old_value, new_value]
        append({"key": dict(zip(key, values)), "changes": changes, "row": dict(zip(header, new))})
    return found


def _changed_dicts(key, values, old, new, order):
    """The changed row of two dicts: the ``key`` values, each changed field as [old, new] and the new row.
    ``order`` gives the position of each column compared (those both headers have, and None for extra values),
    or is None when both rows were read with the same header."""
    names = order or dict.fromkeys(itertools.chain(new, old))
    changes = {name: [old.get(name), new.get(name)] for name in names if old.get(name) != new.get(name)}
    return {"key": dict(zip(key, values)), "changes": changes, "row": new}


def _unique(keys):
    """The set of the keys that occur exactly once, and the set of all of them."""
    everything = set(keys)
    if len(everything) == len(keys):
        return everything, everything
    return {values for values, count in Counter(keys).items() if count == 1}, everything
