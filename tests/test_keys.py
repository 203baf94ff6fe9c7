"""Rows matched by a key (``csv_watcher_add --key``): a changed row is one line naming its key and the fields
that changed. Checked on hand-picked cases, then against csv.DictReader on generated files and edits."""
import csv
import io
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.patterns.csv_watcher_pattern.keys import MISSING_COLUMNS, REPEATED_KEY
from oracle import dictreader, shared_values

pytestmark = pytest.mark.timeout(300)


def keyed_change(old, new, key=("id",)):
    change, _ = diff(read(old), new, key)
    return change, change.unmatched


def test_a_changed_price_is_one_changed_row_with_only_the_changed_fields():
    change, unmatched = keyed_change(b"id,price,qty\n1,1.00,5\n3,1.00,5\n", b"id,price,qty\n1,1.00,5\n3,2.00,4\n")
    assert change.changed_rows == [{"key": {"id": "3"}, "changes": {"price": ["1.00", "2.00"], "qty": ["5", "4"]},
                                    "row": {"id": "3", "price": "2.00", "qty": "4"}}]
    assert (change.new_rows, change.missing_rows, unmatched) == ([], [], [])


def test_new_and_gone_keys_stay_new_and_missing_rows():
    change, _ = keyed_change(b"id,v\n1,a\n2,b\n", b"id,v\n1,a\n3,c\n")
    assert (change.new_rows, change.missing_rows, change.changed_rows) == (
        [{"id": "3", "v": "c"}], [{"id": "2", "v": "b"}], [])


def test_a_compound_key():
    change, _ = keyed_change(b"region,id,v\nEU,1,a\nUS,1,b\n", b"region,id,v\nEU,1,a\nUS,1,c\n", ("region", "id"))
    assert [(row["key"], row["changes"]) for row in change.changed_rows] == [
        ({"region": "US", "id": "1"}, {"v": ["b", "c"]})]


def test_a_repeated_key_is_left_as_new_and_missing_rows_and_said():
    change, unmatched = keyed_change(b"id,v\n1,a\n", b"id,v\n1,b\n1,c\n")
    assert change.changed_rows == []
    assert (len(change.new_rows), len(change.missing_rows)) == (2, 1)
    assert unmatched[0].reason == REPEATED_KEY and unmatched[0].detail == {"id": "1"}


def test_a_key_column_not_in_the_header_is_said_and_rows_compare_without_it():
    change, unmatched = keyed_change(b"id,v\n1,a\n", b"id,v\n1,b\n", ("sku",))
    assert (change.new_rows, change.missing_rows) == ([{"id": "1", "v": "b"}], [{"id": "1", "v": "a"}])
    assert [(item.reason, item.detail) for item in unmatched] == [(MISSING_COLUMNS, ["sku"])]


def test_with_a_new_column_the_changed_fields_are_the_shared_ones():
    change, _ = keyed_change(b"id,price\n1,1.00\n", b"id,price,email\n1,2.00,a@x\n")
    assert change.changed_rows[0]["changes"] == {"price": ["1.00", "2.00"]}
    assert change.columns.added == ["email"]


@st.composite
def keyed_versions(draw):
    """Two versions of a file with one header holding an ``id`` column among others: ids from a small set (so
    they repeat, match and vanish) and values with separators, quotes and line breaks."""
    header = draw(st.permutations(["id", "price", "note"]))
    line_end = draw(st.sampled_from(["\n", "\r\n"]))
    values = st.text(alphabet='ab1,"\n\r ', max_size=4)
    rows = st.lists(st.fixed_dictionaries({"id": st.sampled_from("12345"), "price": values, "note": values}),
                    max_size=6)

    def written(rows):
        stream = io.StringIO(newline="")
        writer = csv.DictWriter(stream, header, lineterminator=line_end)
        writer.writeheader()
        writer.writerows(rows)
        return stream.getvalue().encode()
    old = draw(rows)
    new = draw(st.one_of(rows, st.permutations(old)))
    return written(old), written(new)


def only_in(rows, surplus, compared):
    """The first ``surplus[compared(row)]`` rows of each kind, in order."""
    surplus, found = Counter(surplus), []
    for row in rows:
        if surplus[compared(row)] > 0:
            surplus[compared(row)] -= 1
            found.append(row)
    return found


def expected(old, new, key):
    """The spec on DictReader rows: the multiset difference (on the columns both headers have, and the extra
    values, when the header changed), then a new and a missing row whose key is on no other new or missing row
    are one changed row, unless a key column is not in both headers: (new rows, missing rows, {key values:
    (changes, new row)}). A changed row's changes are the fields compared that differ."""
    old_reader, new_reader = dictreader(old), dictreader(new)
    old_rows, new_rows = list(old_reader), list(new_reader)
    old_header, new_header = old_reader.fieldnames or [], new_reader.fieldnames or []
    compared = repr if old_header == new_header else shared_values(old_header, new_header)
    old_counts, new_counts = Counter(map(compared, old_rows)), Counter(map(compared, new_rows))
    new_only = only_in(new_rows, new_counts - old_counts, compared)
    missing_only = only_in(old_rows, old_counts - new_counts, compared)
    if any(name not in old_header or name not in new_header for name in key):
        return new_only, missing_only, {}

    def key_of(row):
        return tuple(row[name] for name in key)
    new_keys, missing_keys = Counter(map(key_of, new_only)), Counter(map(key_of, missing_only))
    pairs = {values for values in new_keys if new_keys[values] == 1 and missing_keys[values] == 1}
    new_by_key = {key_of(row): row for row in new_only}

    def changes(old_row, new_row):
        if old_header == new_header:
            names = dict.fromkeys([*new_row, *old_row])  # extra values (under None) may be in one row only
        else:
            names = [name for name in dict.fromkeys(new_header) if name in old_header] + [None]
        return {name: [old_row.get(name), new_row.get(name)] for name in names
                if old_row.get(name) != new_row.get(name)}
    changed = {key_of(row): (changes(row, new_by_key[key_of(row)]), new_by_key[key_of(row)])
               for row in missing_only if key_of(row) in pairs}
    return ([row for row in new_only if key_of(row) not in pairs],
            [row for row in missing_only if key_of(row) not in pairs], changed)


@st.composite
def ragged_versions(draw):
    """Two versions whose rows may be short of their header or longer (extra values, absent fields: None), each
    under one of a few headers (the same one or another: a column added, removed, moved, or the key column
    gone), which may repeat a name (its last field is the row's value), so that the key may be None or lie in a
    repeated column."""
    headers = st.sampled_from([["id", "price", "note"], ["price", "id", "price"], ["id", "id", "note"],
                               ["note", "id", "price", "email"], ["price", "note"]])
    field = st.text(alphabet="ab1,", max_size=3)
    rows = st.lists(st.lists(st.one_of(st.sampled_from("123"), field), min_size=1, max_size=5), max_size=6)

    def written(header, rows):
        stream = io.StringIO(newline="")
        csv.writer(stream, lineterminator="\n").writerows([header] + rows)
        return stream.getvalue().encode()
    old_header, old = draw(headers), draw(rows)
    new_header = draw(st.one_of(st.just(old_header), headers))
    new = draw(st.one_of(rows, st.permutations(old)))
    return written(old_header, old), written(new_header, new)


@settings(max_examples=400, deadline=None)
@given(st.one_of(keyed_versions(), ragged_versions()))
def test_keyed_changes_equal_the_dictreader_spec(versions):
    old, new = versions
    change, _ = keyed_change(old, new)
    new_only, missing_only, changed = expected(old, new, ("id",))
    assert Counter(map(repr, change.new_rows)) == Counter(map(repr, new_only))
    assert Counter(map(repr, change.missing_rows)) == Counter(map(repr, missing_only))
    assert {tuple(row["key"].values()): (row["changes"], row["row"]) for row in change.changed_rows} == changed
