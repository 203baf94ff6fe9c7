"""Fast in-process cases with click's CliRunner: the same app and commands, no subprocess."""
import json
import os

import pytest


pytestmark = pytest.mark.timeout(30)


def test_add_list_delete_round_trip(cli, csv_file, store):
    assert cli("csv_watcher_add", csv_file, "-i", "3").exit_code == 0
    listed = cli("csv_watcher_list", "--json")
    assert [{key: watcher[key] for key in ("id", "csv_file", "interval")} for watcher in json.loads(listed.output)] \
        == [{"id": 1, "csv_file": str(csv_file), "interval": 3}]
    assert cli("csv_watcher_delete", csv_file).exit_code == 0
    assert store.rows() == []


@pytest.mark.parametrize("path, message", [
    ("", "The CSV file path is empty."),
    ("with\nnewline.csv", "contains a control character"),
    ("x" * 2100, "at most 2048 are supported"),
])
def test_unusable_paths_are_refused_and_nothing_is_stored(cli, csv_file, store, path, message):
    cli("csv_watcher_add", csv_file)
    result = cli("csv_watcher_add", path)
    assert result.exit_code == 1
    assert message in result.output
    assert store.rows() == [(1, str(csv_file), 10)]


def test_a_fifo_is_not_a_regular_file(cli, tmp_path, store):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    result = cli("csv_watcher_add", fifo)
    assert result.exit_code == 1
    assert "%s is not a regular file." % fifo in result.output
    assert store.rows() == []


def test_a_device_file_is_not_a_regular_file(cli, store):
    result = cli("csv_watcher_add", "/dev/null")
    assert result.exit_code == 1
    assert "/dev/null is not a regular file." in result.output
    assert store.rows() == []


@pytest.mark.parametrize("content", [
    b"\x00\x01\xff\xfe binary", b"", b"id,name\n", b"\xef\xbb\xbfid,name\n1,a\n", b"id,name\n1,caf\xe9\n",
], ids=["binary", "empty", "header-only", "bom", "latin-1"])
def test_add_accepts_any_regular_file_without_reading_it(cli, tmp_path, store, content):
    """Content is the watcher's business (see test_watcher.py): one-shot commands never read watched files."""
    path = tmp_path / "content.csv"
    path.write_bytes(content)
    result = cli("csv_watcher_add", path)
    assert (result.exit_code, result.output) == (0, "Added watcher for %s (every 10 s)\n" % path)
    assert store.rows() == [(1, str(path), 10)]
    assert path.read_bytes() == content


def test_paths_with_spaces_quotes_and_non_ascii_are_stored_as_given(cli, tmp_path, store):
    path = tmp_path / "my \"quoted\" data – café.csv"
    path.write_text("a\n1\n")
    assert cli("csv_watcher_add", path).exit_code == 0
    assert store.rows() == [(1, str(path), 10)]
    assert cli("csv_watcher_list").output == "file: %s - interval: 10\n" % path


def test_a_symlink_is_stored_as_the_link_not_its_target(cli, tmp_path, csv_file, store):
    link = tmp_path / "link.csv"
    link.symlink_to(csv_file)
    assert cli("csv_watcher_add", link).exit_code == 0
    assert cli("csv_watcher_add", csv_file).exit_code == 0
    assert [row[1] for row in store.rows()] == [str(link), str(csv_file)]


def test_a_foreign_csv_watchers_table_is_reported_and_left_byte_identical(cli, home):
    import sqlite3
    home.mkdir()
    database = home / "watcher_db.db"
    with sqlite3.connect(str(database)) as connection:
        connection.execute("CREATE TABLE csv_watchers (name TEXT, owner TEXT)")
    before = database.read_bytes()
    with pytest.raises(Exception) as raised:
        cli("csv_watcher_list")
    assert "has a table 'csv_watchers' with columns ['name', 'owner']" in str(raised.value)
    assert database.read_bytes() == before


def test_a_database_with_other_tables_gets_ours_beside_them(cli, home, csv_file):
    import sqlite3
    home.mkdir()
    database = home / "watcher_db.db"
    with sqlite3.connect(str(database)) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
        connection.execute("INSERT INTO notes VALUES ('keep me')")
    assert cli("csv_watcher_add", csv_file).exit_code == 0
    with sqlite3.connect(str(database)) as connection:
        assert connection.execute("SELECT body FROM notes").fetchall() == [("keep me",)]
        assert connection.execute("SELECT csv_file FROM csv_watchers").fetchall() == [(str(csv_file),)]


def test_a_database_file_that_is_not_sqlite_is_reported_and_left_byte_identical(cli, home):
    home.mkdir()
    database = home / "watcher_db.db"
    database.write_bytes(os.urandom(4096))
    before = database.read_bytes()
    with pytest.raises(Exception) as raised:
        cli("csv_watcher_list")
    assert "Database %s: file is not a database" % database in str(raised.value)
    assert database.read_bytes() == before
