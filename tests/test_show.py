"""csv_history --show N writes the file's exact bytes at version N, and --diff N [M] the rows that differ:
checked with sha256 against what the file really held, over a run of thirty-odd edits of every kind."""
import hashlib
import os
import subprocess

import pytest

from helpers import SCRIPT

pytestmark = pytest.mark.timeout(120)


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Editor:
    """Edits a watched file the ways people do and notes what it held at each version the runner reports."""

    def __init__(self, path, runner):
        self.path, self.runner = path, runner
        self.held = []  # per version: the sha256 of the file's bytes, None when it was missing

    def _versions(self):
        """The versions the runner reported: the events of one version share their ``at``."""
        return len({event["at"] for event in self.runner.events() if event["event"] != "watching"})

    def _reported(self, held):
        """Wait until the runner reported the edit just made as one more version."""
        while self._versions() <= len(self.held):
            self.runner.expect('"event"')
        assert self._versions() == len(self.held) + 1, "two edits were one version"
        self.held.append(held)

    def replace(self, data):
        """Write a temporary file and rename it over the file (an editor saving, sed -i)."""
        temporary = "%s.tmp" % self.path
        with open(temporary, "wb") as stream:
            stream.write(data)
        os.replace(temporary, self.path)
        self._reported(sha(data))

    def append(self, data):
        with open(self.path, "ab") as stream:
            stream.write(data)
        self._reported(sha(self.path.read_bytes()))

    def delete(self):
        self.path.unlink()
        self._reported(None)


def test_every_version_is_shown_byte_exact_and_diffs_name_the_rows(cli, tmp_path, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0")
    path = tmp_path / "people.csv"
    rows = [b"%d,name %d,%d\n" % (number, number, number * 7) for number in range(1, 6)]
    path.write_bytes(b"id,name,score\n" + b"".join(rows))
    assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    editor = Editor(path, runner)

    for number in range(6, 16):                                           # 10 appends
        rows.append(b"%d,name %d,%d\n" % (number, number, number * 7))
        editor.append(rows[-1])
    for index in (2, 5, 8, 0, 6):                                         # 5 edits of a field
        rows[index] = rows[index].replace(b",", b",x", 1)
        editor.replace(b"id,name,score\n" + b"".join(rows))
    for index in (1, 3, 4):                                               # 3 deletes
        del rows[index]
        editor.replace(b"id,name,score\n" + b"".join(rows))
    editor.replace(b"id,name,score,email\r\n" + b"".join(row[:-1] + b",\r\n" for row in rows))   # a column, CRLF
    editor.replace(b"id,name,score,email\r\n" + b"".join(row[:-1] + b",\r\n" for row in rows[:-1]))
    editor.delete()                                                       # gone
    editor.replace(b"id,name,score\n" + b"".join(rows))                   # back, the column gone again
    editor.replace(b'id,name,score\n1,"quoted, name",7\n' + b"".join(rows[1:]))
    editor.replace(b"")                                                   # emptied
    editor.replace(b"\xef\xbb\xbfid,name,score\n" + b"".join(rows))      # back with a BOM
    for number in range(16, 21):                                          # 5 more, the last without newline
        editor.append(b"%d,late,%d" % (number, number) if number == 20 else b"%d,late,%d\n" % (number, number))
    assert runner.finish() == 0
    assert len(editor.held) >= 30

    for number, held in enumerate(editor.held, 1):
        shown = cli("csv_history", path, "--show", number)
        if held is None:
            assert shown.exit_code == 1 and "was missing" in shown.output, (number, shown.output)
        else:
            assert (shown.exit_code, sha(shown.stdout_bytes)) == (0, held), number
    # Through a real pipe too, for the version with CRLF line ends.
    crlf = subprocess.run([SCRIPT, "csv_history", str(path), "--show", "20"], capture_output=True, timeout=60)
    assert (crlf.returncode, sha(crlf.stdout)) == (0, editor.held[19]) and b"\r\n" in crlf.stdout

    assert cli("csv_history", path, "--diff", "1", "2").output == (
        "%s has new row: {'id': '7', 'name': 'name 7', 'score': '49'}\n" % path)
    assert cli("csv_history", path, "--diff", "10", "11").output.splitlines() == [
        "%s has new row: {'id': '3', 'name': 'xname 3', 'score': '21'}" % path,
        "%s is missing row: {'id': '3', 'name': 'name 3', 'score': '21'}" % path]


@pytest.mark.parametrize("args, code, message", [
    (["--show", "1", "--diff", "1"], 2, "--show, --diff and --prune cannot be combined"),
    (["--prune", "--diff", "1"], 2, "--show, --diff and --prune cannot be combined"),
    (["1"], 2, "Versions after CSV_FILE are for --diff N [M]"),
    (["--diff"], 2, "--diff takes one or two versions after CSV_FILE: N [M]"),
    (["--diff", "1", "2", "3"], 2, "--diff takes one or two versions"),
    (["--show", "9"], 1, "has no version 9; its versions are 1 to 2."),
    (["--show", "0"], 2, "0 is not in the range x>=1"),
])
def test_show_and_diff_refuse_what_means_nothing(cli, home, tmp_path, args, code, message):
    from csv_manager.applications import CsvManagerApp
    from csv_manager.patterns.csv_watcher_pattern.csv_diff import Patch

    app = CsvManagerApp()
    plugin = app.app.plugins.get("CsvDocumentPlugin")
    plugin.setup_db()
    path = str(tmp_path / "f.csv")
    plugin.history.start()
    plugin.history.record_baseline(path, 1, b"a\n1\n")
    for old, new in ((b"a\n1\n", b"a\n1\n2\n"), (b"a\n1\n2\n", b"a\n1\n2\n3\n")):
        plugin.history.record_change(path, [{"a": new.split()[-1].decode()}], [], [], None, 0,
                                     Patch(len(old), len(old), new[len(old):]), new)
    plugin.history.stop()
    app.stop()
    result = cli("csv_history", path, *args)
    assert result.exit_code == code and message in result.output, result.output
