"""One watcher's checks, called directly (no thread) on a clock the test moves: every way a watched file can
misbehave, and every kind of writer."""
import logging
import os

import pytest

from csv_manager.patterns.csv_watcher_pattern import file_reads
from csv_manager.patterns.csv_watcher_pattern import watcher as watcher_module
from csv_manager.patterns.csv_watcher_pattern.watcher import QUIET_SECONDS, CsvWatcher
from oracle import Clock


class Recorder:
    """Collects a watcher's callbacks: the row counts of baselines, and the rows of changes that have rows."""

    def __init__(self):
        self.started, self.baselines, self.changes, self.columns = [], [], [], []
        self.clock = Clock()

    def watcher(self, path):
        return CsvWatcher(str(path), 1, self.on_started, self.on_baseline, self.on_change, clock=self.clock)

    def settle(self, watcher):
        """Check, let the quiet period pass with the file unchanged, and check again."""
        watcher.check()
        self.clock.advance(QUIET_SECONDS)
        watcher.check()

    def on_started(self, watcher):
        self.started.append(watcher.rows)

    def on_baseline(self, watcher, content):
        self.baselines.append(watcher.rows)

    def on_change(self, watcher, change, content):
        if change:
            self.changes.append((change.new_rows, change.missing_rows))
        if change.columns:
            self.columns.append((change.columns.added, change.columns.removed))


@pytest.fixture
def watched(tmp_path, monkeypatch):
    """A watcher of tmp_path/w.csv that re-reads on every check (no racy window to wait out)."""
    monkeypatch.setattr(watcher_module, "RACY_SECONDS", 10 ** 6)
    path = tmp_path / "w.csv"
    path.write_bytes(b"id,name\n1,a\n2,b\n")
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.check()
    return path, watcher, recorder


def append_bytes(path, data):
    """Append ``data`` (bytes) to the file, opened and closed as a writer does."""
    with open(path, "ab") as stream:
        stream.write(data)


def warnings_of(caplog):
    return [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]


def test_the_first_check_is_a_silent_baseline(watched):
    path, watcher, recorder = watched
    assert recorder.baselines == [2]
    assert recorder.changes == []


def test_an_unchanged_file_costs_one_stat_and_no_read(tmp_path, monkeypatch):
    path = tmp_path / "still.csv"
    path.write_bytes(b"a\n1\n")
    # A file changed less than RACY_SECONDS ago is read again on the next tick; this one counts as older.
    monkeypatch.setattr(watcher_module, "RACY_SECONDS", 0)
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.check()

    def no_open(*args, **kwargs):
        raise AssertionError("an unchanged file was opened")
    monkeypatch.setattr("builtins.open", no_open)
    watcher.check()
    watcher.check()
    assert recorder.baselines == [1]


def test_deleted_then_recreated_reports_the_difference_against_the_last_good_content(watched, caplog):
    path, watcher, recorder = watched
    path.unlink()
    recorder.settle(watcher)
    watcher.check()
    path.write_bytes(b"id,name\n1,a\n3,c\n")
    recorder.settle(watcher)
    assert recorder.changes == [([{"id": "3", "name": "c"}], [{"id": "2", "name": "b"}])]
    assert warnings_of(caplog) == ["%s is missing; waiting for it to come back" % path, "%s is readable again" % path]


def test_a_file_gone_for_less_than_the_quiet_period_is_no_problem(watched, caplog):
    path, watcher, recorder = watched
    path.unlink()
    watcher.check()
    recorder.clock.advance(QUIET_SECONDS / 2)
    path.write_bytes(b"id,name\n1,a\n2,b\n")
    recorder.settle(watcher)
    assert (recorder.changes, warnings_of(caplog)) == ([], [])


def test_truncated_to_nothing_waits_for_content(watched, caplog):
    path, watcher, recorder = watched
    path.write_bytes(b"")
    recorder.settle(watcher)
    watcher.check()
    path.write_bytes(b"id,name\n1,a\n2,b\n4,d\n")
    watcher.check()
    assert recorder.changes == [([{"id": "4", "name": "d"}], [])]
    assert warnings_of(caplog)[0] == "%s is empty; waiting for content" % path


def test_replaced_by_rename(watched):
    path, watcher, recorder = watched
    replacement = path.with_name("new.csv")
    replacement.write_bytes(b"id,name\n1,a\n5,e\n")
    os.replace(replacement, path)
    watcher.check()
    assert recorder.changes == [], "a rewrite is reported once the quiet period shows it is finished"
    recorder.clock.advance(QUIET_SECONDS)
    watcher.check()
    assert recorder.changes == [([{"id": "5", "name": "e"}], [{"id": "2", "name": "b"}])]


def test_an_append_of_finished_rows_is_reported_at_once(watched):
    path, watcher, recorder = watched
    append_bytes(path, b"3,c\n4,d\n")
    watcher.check()
    assert recorder.changes == [([{"id": "3", "name": "c"}, {"id": "4", "name": "d"}], [])]


def test_a_slow_rewrite_is_reported_once_as_its_net_effect(watched):
    path, watcher, recorder = watched
    final = b"id,name\n1,a\n2,B\n"
    with open(path, "wb") as stream:
        for size in range(0, len(final), 3):
            stream.write(final[size:size + 3])
            stream.flush()
            watcher.check()
            recorder.clock.advance(QUIET_SECONDS / 3)
    recorder.settle(watcher)
    assert recorder.changes == [([{"id": "2", "name": "B"}], [{"id": "2", "name": "b"}])]


def test_a_same_size_rewrite_with_the_old_mtime_restored_is_seen(watched):
    path, watcher, recorder = watched
    before = os.stat(path)
    path.write_bytes(b"id,name\n1,a\n2,c\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    recorder.settle(watcher)
    assert recorder.changes == [([{"id": "2", "name": "c"}], [{"id": "2", "name": "b"}])]


def test_non_utf8_bytes_are_warned_once_and_the_baseline_kept(watched, caplog):
    path, watcher, recorder = watched
    path.write_bytes(b"id,name\n1,a\n2,b\n3,caf\xe9\n")
    recorder.settle(watcher)
    watcher.check()
    path.write_bytes(b"id,name\n1,a\n2,b\n3,caf\xc3\xa9\n")
    watcher.check()
    assert recorder.changes == [([{"id": "3", "name": "caf\u00e9"}], [])]
    assert warnings_of(caplog) == ["%s holds bytes that are not UTF-8; waiting for valid content" % path,
                                   "%s is readable again" % path]


def test_a_file_starting_with_a_bom(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfid,name\n1,a\n")
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.check()
    path.write_bytes(b"\xef\xbb\xbfid,name\n1,a\n2,b\n")
    os.utime(path, ns=(1, 1))
    watcher.check()
    assert recorder.changes == [([{"id": "2", "name": "b"}], [])]


def test_a_changed_header_is_a_column_change_not_a_warning(watched, caplog):
    path, watcher, recorder = watched
    path.write_bytes(b"id,full_name\n1,a\n2,b\n")
    recorder.settle(watcher)
    assert recorder.changes == [([], [])]
    assert recorder.columns == [(["full_name"], ["name"])]
    assert warnings_of(caplog) == []
    path.write_bytes(b"id,full_name\n1,a\n")
    recorder.settle(watcher)
    assert recorder.changes[1:] == [([], [{"id": "2", "full_name": "b"}])]


def test_a_half_written_header_is_never_a_baseline(watched, caplog):
    path, watcher, recorder = watched
    path.write_bytes(b"")
    watcher.check()
    recorder.clock.advance(QUIET_SECONDS / 2)
    path.write_bytes(b"id,na")
    watcher.check()
    recorder.clock.advance(QUIET_SECONDS / 2)
    path.write_bytes(b"id,name\n1,a\n3,c\n")
    recorder.settle(watcher)
    assert recorder.changes == [([{"id": "3", "name": "c"}], [{"id": "2", "name": "b"}])]
    assert recorder.baselines == [2]
    assert warnings_of(caplog) == []


def test_a_half_written_line_is_held_back_until_it_ends(watched):
    path, watcher, recorder = watched
    append_bytes(path, b"3,ha")
    watcher.check()
    recorder.clock.advance(QUIET_SECONDS * 0.9)
    watcher.check()
    assert recorder.changes == []
    append_bytes(path, b"lf\n")
    watcher.check()
    assert recorder.changes == [([{"id": "3", "name": "half"}], [])]


def test_a_last_line_without_newline_counts_once_the_file_is_still(watched):
    path, watcher, recorder = watched
    append_bytes(path, b"3,c")
    watcher.check()
    assert recorder.changes == []
    assert watcher.pending_seconds() == QUIET_SECONDS
    recorder.clock.advance(QUIET_SECONDS)
    watcher.check()
    assert recorder.changes == [([{"id": "3", "name": "c"}], [])]
    assert watcher.pending_seconds() is None


def test_bytes_appended_to_a_last_row_without_newline_wait_like_an_edit(tmp_path):
    path = tmp_path / "n.csv"
    path.write_bytes(b"id\n1")
    recorder = Recorder()
    watcher = recorder.watcher(path)
    recorder.settle(watcher)
    append_bytes(path, b"0\n")
    watcher.check()
    assert recorder.changes == [], "'10' may be the start of a longer row"
    append_bytes(path, b"1\n")
    recorder.settle(watcher)
    assert recorder.changes == [([{"id": "10"}], [])]


def test_a_quoted_field_left_open_is_held_back_although_the_line_ended(watched):
    path, watcher, recorder = watched
    append_bytes(path, b'3,"first line\n')
    watcher.check()
    assert recorder.changes == []
    append_bytes(path, b'second line"\n')
    watcher.check()
    assert recorder.changes == [([{"id": "3", "name": "first line\nsecond line"}], [])]


def test_a_file_replaced_by_a_directory_is_warned_and_survived(watched, caplog):
    path, watcher, recorder = watched
    path.unlink()
    path.mkdir()
    recorder.settle(watcher)
    watcher.check()
    path.rmdir()
    path.write_bytes(b"id,name\n1,a\n")
    recorder.settle(watcher)
    assert recorder.changes == [([], [{"id": "2", "name": "b"}])]
    assert warnings_of(caplog)[0] == "%s is not a regular file" % path


def test_a_tick_wakes_the_thread_only_when_the_file_changed(tmp_path, monkeypatch):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n1\n")
    # A file changed less than RACY_SECONDS ago is read again on the next tick; this one counts as older.
    monkeypatch.setattr(watcher_module, "RACY_SECONDS", 0)
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.tick()
    assert watcher._wake.is_set(), "no baseline yet: the first tick must wake the thread"
    watcher._wake.clear()
    watcher.check()
    watcher.tick()
    assert not watcher._wake.is_set()
    path.write_bytes(b"a\n1\n2\n")
    watcher.tick()
    assert watcher._wake.is_set()


@pytest.mark.parametrize("content, rows, warning", [
    (b"\x00\x01\xff\xfe binary", None, "holds bytes that are not UTF-8; waiting for valid content"),
    (b"", None, "is empty; waiting for content"),
    (b"id,name\n", 0, None),
    (b"\xef\xbb\xbfid,name\n1,a\n", 1, None),
    (b"id,name\n1,caf\xe9\n", None, "holds bytes that are not UTF-8; waiting for valid content"),
], ids=["binary", "empty", "header-only", "bom", "latin-1"])
def test_the_first_look_at_awkward_content(tmp_path, caplog, content, rows, warning):
    path = tmp_path / "awkward.csv"
    path.write_bytes(content)
    recorder = Recorder()
    watcher = recorder.watcher(path)
    recorder.settle(watcher)
    watcher.check()
    assert recorder.baselines == ([] if rows is None else [rows])
    assert warnings_of(caplog) == ([] if warning is None else ["%s %s" % (path, warning)])


def test_a_restored_watcher_reports_what_changed_since_and_takes_no_baseline(tmp_path):
    path = tmp_path / "r.csv"
    path.write_bytes(b"id,name\n1,a\n3,c\n")
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.restore(b"id,name\n1,a\n2,b\n")
    recorder.settle(watcher)
    assert recorder.baselines == []
    assert recorder.started == [2]
    assert recorder.changes == [([{"id": "3", "name": "c"}], [{"id": "2", "name": "b"}])]


@pytest.mark.parametrize("content, rows", [(b"id\n1\n", 1), (b"id\n1\n2\n3", 3)],
                         ids=["final-newline", "no-final-newline"])
def test_a_restored_watcher_of_an_unchanged_file_only_announces_itself(tmp_path, content, rows):
    path = tmp_path / "u.csv"
    path.write_bytes(content)
    recorder = Recorder()
    watcher = recorder.watcher(path)
    watcher.restore(content)
    watcher.check()
    assert (recorder.started, recorder.baselines, recorder.changes) == ([rows], [], [])


def keyed(tmp_path, content, key=("id",)):
    path = tmp_path / "k.csv"
    path.write_bytes(content)
    recorder = Recorder()
    watcher = CsvWatcher(str(path), 1, recorder.on_started, recorder.on_baseline, recorder.on_change,
                         clock=recorder.clock, key=key)
    watcher.check()
    return path, watcher, recorder


def test_a_key_column_gone_from_the_header_is_warned_once_and_rows_compare_without_it(tmp_path, caplog):
    path, watcher, recorder = keyed(tmp_path, b"id,v\n1,a\n")
    path.write_bytes(b"sku,v\n1,b\n")
    recorder.settle(watcher)
    path.write_bytes(b"sku,v\n1,c\n")
    recorder.settle(watcher)
    assert recorder.changes == [([{"sku": "1", "v": "b"}], [{"id": "1", "v": "a"}]),
                                ([{"sku": "1", "v": "c"}], [{"sku": "1", "v": "b"}])]
    assert warnings_of(caplog) == ["%s: the key column 'id' is not in the header; rows are compared without the key"
                                   % path]


def test_a_repeated_key_is_warned_once(tmp_path, caplog):
    path, watcher, recorder = keyed(tmp_path, b"id,v\n1,a\n")
    path.write_bytes(b"id,v\n1,b\n1,c\n")
    recorder.settle(watcher)
    path.write_bytes(b"id,v\n1,d\n1,e\n")
    recorder.settle(watcher)
    assert len(recorder.changes) == 2
    assert warnings_of(caplog) == ["%s: the key id=1 is on more than one row; such rows are reported as new and "
                                   "missing, not as changed" % path]


def test_a_header_that_looks_semicolon_separated_is_warned_once_naming_the_option(tmp_path, caplog):
    path, watcher, recorder = keyed(tmp_path, b"id;v\n1;a\n", key=())
    append_bytes(path, b"2;b\n")
    recorder.settle(watcher)
    assert warnings_of(caplog) == ["%s looks ;-separated: its header is one column, 'id;v'; to read its columns: "
                                   "csv_manager csv_watcher_update %s --delimiter ';'" % (path, path)]


@pytest.mark.parametrize("known", [b"", b"ab", b"abcdefg", b"abcdefgh"])
def test_a_read_gives_the_files_bytes_and_the_known_version_itself_when_unchanged(tmp_path, monkeypatch, known):
    monkeypatch.setattr(file_reads, "READ_BLOCK", 3)
    path = tmp_path / "f.csv"
    edits = {known, known + b"z", known[:-1]}
    edits.update(known[:at] + b"z" + known[at + 1:] for at in range(len(known)))
    for new in edits:
        path.write_bytes(new)
        with open(path, "rb") as stream:
            read = file_reads.read_against(stream, known)
        assert read == new
        assert (read is known) == (new == known), "an unchanged file must not be held twice"
