"""The row diff on its own: multiset semantics and the edge cases of real CSV files."""
import csv

import pytest

from csv_manager.patterns.csv_watcher_pattern.csv_diff import (
    HeaderChanged, complete_length, diff, split_records)


def rows_of(data):
    return len(split_records(data)) - 1


def check(old, new):
    """diff(old, new), plus its invariants: the row count is the new file's and the patch rebuilds it."""
    change = diff(old, new, rows_of(old))
    assert change.rows == rows_of(new)
    assert (change.patch.apply(old) if change.patch else old) == new
    return change


def test_an_appended_row_is_one_new_row():
    change = check(b"id,name\n1,a\n", b"id,name\n1,a\n2,b\n")
    assert change.new_rows == [{"id": "2", "name": "b"}]
    assert change.missing_rows == []


def test_a_deleted_row_is_one_missing_row():
    change = check(b"id,name\n1,a\n2,b\n3,c\n", b"id,name\n1,a\n3,c\n")
    assert (change.new_rows, change.missing_rows) == ([], [{"id": "2", "name": "b"}])


def test_a_changed_row_is_one_missing_and_one_new_row():
    change = check(b"id,name\n1,a\n2,b\n3,c\n", b"id,name\n1,a\n2,B\n3,c\n")
    assert change.new_rows == [{"id": "2", "name": "B"}]
    assert change.missing_rows == [{"id": "2", "name": "b"}]


def test_a_duplicated_row_is_one_new_row():
    change = check(b"h\nx\ny\n", b"h\nx\nx\ny\n")
    assert (change.new_rows, change.missing_rows) == ([{"h": "x"}], [])


def test_removing_one_of_two_equal_rows_is_one_missing_row():
    change = check(b"h\nx\nx\n", b"h\nx\n")
    assert (change.new_rows, change.missing_rows) == ([], [{"h": "x"}])


def test_moving_a_row_is_no_change():
    assert not check(b"h\n1\n2\n3\n", b"h\n3\n1\n2\n")


def test_a_requoted_row_is_no_change():
    assert not check(b"a,b\n1,x\n", b'a,b\n1,"x"\n')


def test_crlf_line_endings():
    change = check(b"a,b\r\n1,2\r\n", b"a,b\r\n1,2\r\n3,4\r\n")
    assert change.new_rows == [{"a": "3", "b": "4"}]


def test_switching_line_endings_is_no_change():
    assert not check(b"a,b\n1,2\n", b"a,b\r\n1,2\r\n")


def test_header_only_to_rows_and_back():
    assert check(b"a,b\n", b"a,b\n1,2\n").new_rows == [{"a": "1", "b": "2"}]
    assert check(b"a,b\n1,2\n", b"a,b\n").missing_rows == [{"a": "1", "b": "2"}]


def test_a_header_without_newline_then_rows():
    assert check(b"a,b", b"a,b\n1,2\n").new_rows == [{"a": "1", "b": "2"}]


def test_a_changed_header_raises_header_changed():
    with pytest.raises(HeaderChanged) as raised:
        diff(b"a,b\n1,2\n", b"a,c\n1,2\n", 1)
    assert (raised.value.old_header, raised.value.new_header) == (["a", "b"], ["a", "c"])


def test_a_bom_added_to_the_header_is_no_change():
    assert not check(b"a,b\n1,2\n", b"\xef\xbb\xbfa,b\n1,2\n")


def test_quoted_newlines_inside_a_field():
    old = b'id,text\n1,"line one\nline two"\n2,plain\n'
    new = b'id,text\n1,"line one\nline two"\n2,plain\n3,"x\ny"\n'
    assert rows_of(old) == 2
    assert check(old, new).new_rows == [{"id": "3", "text": "x\ny"}]
    changed = check(new, new.replace(b"line two", b"line 2"))
    assert changed.new_rows == [{"id": "1", "text": "line one\nline 2"}]
    assert changed.missing_rows == [{"id": "1", "text": "line one\nline two"}]


def test_a_change_inside_a_multiline_field_near_the_end():
    old = b'id,text\n1,a\n2,"p\nq\nr"\n'
    new = b'id,text\n1,a\n2,"p\nQ\nr"\n'
    change = check(old, new)
    assert change.new_rows == [{"id": "2", "text": "p\nQ\nr"}]
    assert change.missing_rows == [{"id": "2", "text": "p\nq\nr"}]


def test_ragged_rows_follow_dictreader():
    change = check(b"a,b\n", b"a,b\n1\n1,2,3\n")
    assert change.new_rows == [{"a": "1", "b": None}, {"a": "1", "b": "2", None: ["3"]}]


def test_blank_lines_are_not_rows():
    assert not check(b"a\n1\n", b"a\n1\n\n\n")
    assert rows_of(b"a\n1\n\n2\n") == 2


def test_empty_to_header_is_a_header_change():
    with pytest.raises(HeaderChanged):
        diff(b"", b"a\n", 0)


def test_non_utf8_bytes_in_a_changed_row_raise():
    with pytest.raises(UnicodeDecodeError):
        diff(b"a\n1\n", b"a\n1\n\xe9t\xe9\n", 1)


def test_an_unterminated_quote_in_a_changed_row_raises():
    with pytest.raises(csv.Error):
        diff(b"a,b\n", b'a,b\n1,"open\n', 0)


def test_complete_length_holds_back_a_half_written_line():
    assert complete_length(b"a\n1\n2") == 4
    assert complete_length(b"a\n1\n") == 4
    assert complete_length(b'a\n"1\n2') == 2
    assert complete_length(b"a") == 0


def test_large_file_change_in_the_middle_is_exact():
    lines = [b"id,v"] + [b"%d,%d" % (number, number * 7) for number in range(20000)]
    old = b"\n".join(lines) + b"\n"
    edited = list(lines)
    edited[5000] = b"5000,changed"
    del edited[12000]
    edited.insert(15000, b"new,row")
    change = check(old, b"\n".join(edited) + b"\n")
    assert change.new_rows == [{"id": "5000", "v": "changed"}, {"id": "new", "v": "row"}]
    assert change.missing_rows == [{"id": "4999", "v": "34993"}, {"id": "11999", "v": "83993"}]


def test_the_patch_of_an_append_holds_only_the_appended_bytes():
    old = b"h\n" + b"".join(b"%d\n" % number for number in range(1000))
    change = check(old, old + b"x\ny\n")
    assert (change.patch.start, change.patch.end, change.patch.replacement) == (len(old), len(old), b"x\ny\n")
