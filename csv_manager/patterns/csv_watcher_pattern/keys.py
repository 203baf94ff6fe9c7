"""Rows matched by a key: a new row and a missing row with the same key values are one changed row.

The diff (csv_diff.py) finds the rows that appeared and went missing as a multiset, which is all a file without
a key can say. With a key (one or more columns, like ``csv-diff --key``) a row whose key values are among both
the missing and the new rows is reported once, as changed, with only the fields that differ. The rows are
compared on the columns both headers have, as the diff compares them; a field is changed when its value (or
its absence, None) differs, and extra values beyond the header count as the field None.

Rows are matched only where the key says which row is which: a key value carried by more than one new row or
more than one missing row leaves those rows as they are, new and missing (and a key value on two new rows is
worth a warning even when no row went missing), and so does a key column that is not in both headers.
:func:`match_keys` tells the caller which of these happened, so it can warn once.
"""
import itertools
import operator
from collections import Counter
from dataclasses import dataclass

from csv_manager.patterns.csv_watcher_pattern.gc_pause import gc_paused

#: Why rows were left unmatched (see :class:`Unmatched`).
MISSING_COLUMNS = "missing columns"
REPEATED_KEY = "repeated key"


@dataclass(frozen=True)
class Unmatched:
    """Rows left new and missing: ``reason`` is MISSING_COLUMNS (``detail``: the key columns not in both
    headers) or REPEATED_KEY (``detail``: the first key, as a dict, on more than one new or missing row)."""

    reason: str
    detail: object


@gc_paused()
def match_keys(change, key, old_header, new_header):
    """Move the rows of ``change`` that ``key`` matches from its new and missing rows into its changed rows, in
    the new rows' order. Returns the Unmatched reasons found (an empty list when every row could be matched)."""
    absent = [name for name in key if name not in (old_header or ()) or name not in (new_header or ())]
    if absent:
        return [Unmatched(MISSING_COLUMNS, absent)] if change.new_rows or change.missing_rows else []
    key_of = _key_getter(key)
    new_keys, missing_keys = list(map(key_of, change.new_rows)), list(map(key_of, change.missing_rows))
    (unique_new, all_new), (unique_missing, all_missing) = _unique(new_keys), _unique(missing_keys)
    matched = unique_new & unique_missing
    missing_by_key = dict(zip(missing_keys, change.missing_rows))  # looked up only for matched keys
    order = None
    if old_header != new_header:
        shared = set(old_header)
        order = {name: index for index, name in enumerate(dict.fromkeys(new_header)) if name in shared}
        order[None] = len(order)
    matched_keys, matched_rows = new_keys, change.new_rows
    if len(matched) < len(new_keys):
        pairs = [(values, row) for values, row in zip(new_keys, change.new_rows) if values in matched]
        matched_keys, matched_rows = [values for values, _ in pairs], [row for _, row in pairs]
        change.new_rows = [row for values, row in zip(new_keys, change.new_rows) if values not in matched]
    else:  # every new row is matched (rows edited in place): nothing to pick out
        change.new_rows = []
    change.changed_rows = list(map(changed_row, itertools.repeat(key), map(missing_by_key.__getitem__, matched_keys),
                                   matched_rows, itertools.repeat(order)))
    if len(matched) < len(missing_keys):
        change.missing_rows = [row for values, row in zip(missing_keys, change.missing_rows) if values not in matched]
    else:
        change.missing_rows = []
    both = all_new & all_missing
    if len(unique_new) == len(new_keys) and len(both) == len(matched):
        return []
    repeated = [values for values in new_keys
                if values not in unique_new or (values in both and values not in matched)]
    return [Unmatched(REPEATED_KEY, dict(zip(key, repeated[0])))]


def changed_row(key, old, new, order):
    """The changed row: its key values, each changed field as [old, new] and the new row. ``order`` gives the
    position of each column compared (those both headers have, and None for extra values), or is None when
    both rows were read with the same header."""
    if order is None and len(old) == len(new):
        # Then both dicts have the header's names in its order (and None last if both have extra values), so
        # their values pair up in C; a plain loop fills the few changes faster than a comprehension's frame.
        changes = {}
        for name in itertools.compress(new, map(operator.ne, old.values(), new.values())):
            changes[name] = [old[name], new[name]]
    else:
        changes = {name: [old.get(name), new.get(name)] for name in order or _names(old, new)
                   if old.get(name) != new.get(name)}
    return {"key": {name: new[name] for name in key}, "changes": changes, "row": new}


def _names(old, new):
    """The names of two rows read with the same header, one with extra values (None) and one without."""
    return dict.fromkeys(itertools.chain(new, old))


def _key_getter(key):
    """A function giving a row's key values as a tuple (every key column is in the rows' header)."""
    if len(key) == 1:
        name = key[0]
        return lambda row: (row[name],)
    return operator.itemgetter(*key)


def _unique(keys):
    """The set of the keys that occur exactly once, and the set of all of them."""
    everything = set(keys)
    if len(everything) == len(keys):
        return everything, everything
    return {values for values, count in Counter(keys).items() if count == 1}, everything
