"""Smoke test of the real csv_watcher_run with every writer at once, in real time: five files, each edited by
one writer in its own thread (pausing longer than the interval but shorter than the quiet period), then marked
by an appended row. Every file's JSON lines must equal the csv.DictReader difference, each row exactly once."""
import threading
import time
from collections import Counter

import pytest

from oracle import appending, atomic, expected_change, in_place, slow_rewrite, two_halves

pytestmark = pytest.mark.timeout(120)

#: Longer than the 1 s interval, so the watcher looks at every intermediate state at least once, and well
#: under the quiet period set below, so that none of them counts as finished.
PAUSE_SECONDS = 1.2
QUIET_SECONDS = "4"

ROWS = b"".join(b"%d,name %d\n" % (number, number) for number in range(200))
EDITS = {
    # writer: (old content, new content, line end)
    "in_place": (b"id,name\r\n1,Ada\r\n2,Grace\r\n", b"id,name\r\n1,Ada\r\n2,Hopper\r\n", b"\r\n"),
    "atomic": (b"id,name\n1,Ada\n2,Grace\n3,Linus", b"id,name\n1,Ada\n3,Linus", b"\n"),
    "appending": (b"id,name\r1,Ada\r", b"id,name\r1,Ada\r2,Grace\r3,Ken\r", b"\r"),
    "slow_rewrite": (b"id,name\n" + ROWS, b"id,name\n" + ROWS.replace(b"\n100,name 100\n", b"\n100,renamed\n"),
                     b"\n"),
    "two_halves": (b"id,note\n1,short\n", b'id,note\n1,short\n2,"first line\nsecond line"\n', b"\n"),
}
WRITERS = {writer.__name__: writer for writer in (in_place, atomic, appending, slow_rewrite, two_halves)}


def edit(path, writer, old, new, line_end):
    """Apply the edit with pauses for ticks, then append the marker row (a new version's last row)."""
    WRITERS[writer](path, old, new, lambda: time.sleep(PAUSE_SECONDS))
    with open(path, "ab") as stream:
        stream.write((b"" if new.endswith(line_end) else line_end) + b"marker,%s%s" % (writer.encode(), line_end))


@pytest.mark.long
def test_every_writer_is_reported_once_and_whole(cli, tmp_path, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", QUIET_SECONDS)
    paths = {}
    for writer, (old, new, line_end) in EDITS.items():
        paths[writer] = tmp_path / ("%s.csv" % writer)
        paths[writer].write_bytes(old)
        assert cli("csv_watcher_add", paths[writer], "-i", "1").exit_code == 0
    watcher = forked_running("--json")
    watcher.expect_all(['"csv_file": "%s", "event": "watching"' % path for path in paths.values()])

    threads = [threading.Thread(target=edit, args=(paths[writer], writer, *EDITS[writer])) for writer in EDITS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    watcher.expect_all(['"%s"}, "id": ' % writer for writer in EDITS])
    assert watcher.finish() == 0

    for writer, path in paths.items():
        old = EDITS[writer][0]
        key, expected_new, expected_missing = expected_change(old, path.read_bytes())
        reports = watcher.events()
        reported = {change: Counter(key(report["row"]) for report in reports
                                    if report["csv_file"] == str(path) and report["event"] == change)
                    for change in ("new", "missing")}
        assert reported == {"new": expected_new, "missing": expected_missing}, writer
