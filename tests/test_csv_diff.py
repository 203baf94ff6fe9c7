"""The row diff on its own: multiset semantics and the edge cases of real CSV files.

tests/test_oracle.py checks the same against csv.DictReader on generated files; these are the cases to read.
"""

import pytest

from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT, check_dialect, suggested_delimiter
from csv_manager.patterns.csv_watcher_pattern.version import read


def rows_of(data):
    return read(data).rows


def check(old, new):
    """diff(old, new), plus its invariants: the new version is what reading ``new`` gives, and the patch
    rebuilds it."""
    change, version = diff(read(old), new)
    fresh = read(new)
    assert (change.rows, version.rows, version.header, version.terminated) == (
        fresh.rows, fresh.rows, fresh.header, fresh.terminated)
    assert change.patch.apply(old) == new
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


def test_a_renamed_column_is_a_column_change_and_rows_compare_on_the_others():
    change = check(b"a,b\n1,2\n3,4\n", b"a,c\n1,2\n3,5\n")
    assert change.columns.as_dict() == {"added": ["c"], "removed": ["b"], "reordered": False,
                                        "previous": ["a", "b"], "header": ["a", "c"]}
    assert (change.new_rows, change.missing_rows) == ([], [])


def test_a_new_column_alone_changes_no_row():
    change = check(b"id,price\n1,2.00\n2,3.00\n", b"id,price,email\n1,2.00,a@x\n2,3.00,\n")
    assert (change.columns.added, change.columns.removed, change.columns.reordered) == (["email"], [], False)
    assert (change.new_rows, change.missing_rows) == ([], [])


def test_with_a_new_column_a_changed_shared_value_is_still_a_row_change():
    change = check(b"id,price\n1,2.00\n2,3.00\n", b"id,price,email\n1,2.00,a@x\n2,9.00,\n")
    assert change.new_rows == [{"id": "2", "price": "9.00", "email": ""}]
    assert change.missing_rows == [{"id": "2", "price": "3.00"}]


def test_with_a_column_added_in_front_a_changed_shared_value_is_still_a_row_change():
    change = check(b"id,price\n1,2.00\n2,3.00\n", b"sku,id,price\nA,1,2.00\nB,2,9.00\n")
    assert change.new_rows == [{"sku": "B", "id": "2", "price": "9.00"}]
    assert change.missing_rows == [{"id": "2", "price": "3.00"}]


def test_with_two_columns_added_at_the_end_only_changed_shared_values_are_row_changes():
    change = check(b"id,price\n1,2.00\n2,3.00\n2,3.00\n", b"id,price,a,b\n2,3.00,x,y\n1,2.00,,\n1,2.00,,\n")
    assert change.new_rows == [{"id": "1", "price": "2.00", "a": "", "b": ""}]
    assert change.missing_rows == [{"id": "2", "price": "3.00"}]


def test_reordered_columns_with_their_values_change_no_row():
    change = check(b"a,b\n1,2\n", b"b,a\n2,1\n")
    assert (change.new_rows, change.missing_rows) == ([], [])
    assert (change.columns.added, change.columns.removed, change.columns.reordered) == ([], [], True)


def test_an_unchanged_header_is_no_column_change():
    assert check(b"a,b\n1,2\n", b"a,b\n1,3\n").columns is None


def test_duplicate_column_names_compare_as_dicts():
    # DictReader keeps the last value of a repeated name: both rows are {"a": "2"}.
    assert not check(b"a,a\n1,2\n", b"a,a\n3,2\n")


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


def test_nothing_to_a_header():
    assert not check(b"", b"a\n")


def test_non_utf8_bytes_in_a_changed_row_raise():
    with pytest.raises(UnicodeDecodeError):
        diff(read(b"a\n1\n"), b"a\n1\n\xe9t\xe9\n")


def test_a_field_longer_than_the_csv_modules_default_limit_is_a_row():
    field = "x" * (1 << 20)  # the csv module refuses more than 128 KiB by default
    change = check(b"a,b\n", b'a,b\n1,"%s"\n' % field.encode())
    assert change.new_rows == [{"a": "1", "b": field}]


def test_an_unterminated_quote_reads_to_the_end_as_dictreader_does():
    change = check(b"a,b\n", b'a,b\n1,"open\n2,x\n')
    assert change.new_rows == [{"a": "1", "b": "open\n2,x\n"}]


@pytest.mark.parametrize("data, terminated", [
    (b"a\n1\n", True), (b"a\n1\r", True), (b"a\n1\r\n", True), (b"a\n1", False), (b'a\n"1\n2\n', False),
    (b'a\n"1\n2"\n', True), (b"a", False), (b'"a\n', False), (b"", True),
])
def test_terminated_tells_whether_the_last_record_is_finished(data, terminated):
    assert read(data).terminated is terminated


def test_cr_line_endings():
    change = check(b"a,b\r1,2\r", b"a,b\r1,2\r3,4\r")
    assert change.new_rows == [{"a": "3", "b": "4"}]


@pytest.mark.parametrize("separator", ["\u2028", "\x0c", "\x85", "\x0b", "\x1e"])
def test_line_separators_other_than_cr_and_lf_are_field_content(separator):
    field = "x%sy" % separator
    change = check(b"a,b\n1,2\n", ("a,b\n1,2\n3,%s\n" % field).encode())
    assert change.new_rows == [{"a": "3", "b": field}]


def test_a_bom_in_the_middle_of_the_file_is_data():
    change = check(b"\xef\xbb\xbfa\n1\n", b"\xef\xbb\xbfa\n1\n\xef\xbb\xbf2\n")
    assert change.new_rows == [{"a": "\ufeff2"}]


def test_a_quote_inside_an_unquoted_field_is_data_and_ends_no_record():
    change = check(b"a,b\n1,x\n", b'a,b\n1,x\n2,5" tall\n3,y\n')
    assert change.new_rows == [{"a": "2", "b": '5" tall'}, {"a": "3", "b": "y"}]


def test_a_last_line_without_newline_is_a_row():
    assert rows_of(b"a\n1\n2") == 2
    change = check(b"a\n1\n2\n3", b"a\n1\n3")
    assert (change.new_rows, change.missing_rows) == ([], [{"a": "2"}])


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


def test_successive_diffs_start_from_the_checkpoints_they_leave():
    lines = [b"id,v"] + [b"%d,%d" % (number, number) for number in range(30000)]
    data = b"\n".join(lines) + b"\n"
    version = read(data)
    assert len(version.checkpoints) > 3
    for number in (100, 29000, 15000, 5):
        data = data.replace(b"\n%d,%d\n" % (number, number), b"\n%d,x\n" % number)
        change, version = diff(version, data)
        assert change.new_rows == [{"id": str(number), "v": "x"}]
        assert all(data[checkpoint - 1:checkpoint] == b"\n" for checkpoint in version.checkpoints)
        assert version.rows == 30000


def test_an_excel_export_semicolons_cp1252_crlf():
    dialect = check_dialect(";", "cp1252")
    old = "Artikel;Preis\r\nKäse;1,50 €\r\n".encode("cp1252")
    change, _ = diff(read(old, dialect), old + "Brötchen;0,40 €\r\n".encode("cp1252"))
    assert change.new_rows == [{"Artikel": "Brötchen", "Preis": "0,40 €"}]


def test_tab_separated():
    dialect = check_dialect("\t", "utf-8")
    change, _ = diff(read(b"a\tb\n1\t2\n", dialect), b"a\tb\n1\t2\n3\t4,5\n")
    assert change.new_rows == [{"a": "3", "b": "4,5"}]


@pytest.mark.parametrize("delimiter, encoding, message", [
    ("", "utf-8", "one character"), (";;", "utf-8", "one character"), ('"', "utf-8", "one character"),
    (",", "no-such-codec", "no encoding 'no-such-codec'"), (",", "rot13", "'rot13' is not a text encoding"),
    ("\u20ac", "latin-1", "cannot write quotes, line ends or the delimiter '\u20ac'")])
def test_dialects_that_cannot_be_read_are_refused_by_name(delimiter, encoding, message):
    with pytest.raises(ValueError, match=message):
        check_dialect(delimiter, encoding)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32", "cp500"])
def test_an_encoding_that_writes_quotes_and_line_ends_otherwise_is_read_as_its_utf8_transcoding(encoding):
    """UTF-16 (Excel's "Unicode text"), UTF-32 and EBCDIC: the rows are those of the decoded text, while the
    patch and the content stay the file's own bytes."""
    dialect = check_dialect("\t", encoding)
    assert dialect.transcoded
    old = 'id\tname\r\n1\tAda\r\n2\t"Grace\r\nHopper"\r\n'.encode(encoding)
    new = 'id\tname\r\n1\tEve\r\n2\t"Grace\r\nHopper"\r\n'.encode(encoding)
    version = read(old, dialect)
    assert (version.data, version.rows, version.header) == (old, 2, ["id", "name"])
    change, version = diff(version, new)
    assert change.new_rows == [{"id": "1", "name": "Eve"}] and change.missing_rows == [{"id": "1", "name": "Ada"}]
    assert change.patch.apply(old) == new and version.data == new


def test_encoding_names_are_canonical():
    assert check_dialect(",", "UTF8").encoding == "utf-8"
    assert check_dialect(",", "utf-8-sig").encoding == "utf-8"
    assert check_dialect(",", "Windows-1252").encoding == "cp1252"


def test_a_one_column_header_holding_semicolons_suggests_them():
    assert suggested_delimiter(read(b"a;b;c\n1;2;3\n").header, DEFAULT) == ";"
    assert suggested_delimiter(read(b"a,b\n").header, DEFAULT) is None
    assert suggested_delimiter(read(b"name\n").header, DEFAULT) is None
