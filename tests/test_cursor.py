"""A cursor for readers: every recorded version has an id, carried by its JSON events and csv_history's lines;
``csv_history --after ID`` gives exactly what was recorded after it, across files and restarts, and ``--follow``
keeps printing as versions are recorded, so a reader that stores the last id it saw misses nothing and sees
nothing twice, also while two runners record at once."""
import json
import signal
import time

import pytest

from helpers import append, forked_run, script

pytestmark = pytest.mark.timeout(120)


def after(last, *arguments):
    """The JSON lines of ``csv_history --after last``."""
    result = forked_run("csv_history", "--after", last, "--json", *arguments)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def watched(cli, tmp_path, count):
    paths = []
    for number in range(count):
        path = tmp_path / ("file%d.csv" % number)
        path.write_text("id,file\n")
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
        paths.append(path)
    return paths


def test_a_reader_that_keeps_the_last_id_sees_every_version_once_across_files_and_restarts(
        cli, store, tmp_path, forked_running):
    first, second = watched(cli, tmp_path, 2)
    runner = forked_running("--json")
    runner.expect_all(['"csv_file": "%s", "event": "watching"' % path for path in (first, second)])
    for number, path in enumerate([first, second, first]):
        append(path, "%d,row\n" % number)
        runner.expect('"row": {"id": "%d", "file": "row"}' % number)
    assert runner.finish() == 0
    live = [event["id"] for event in runner.events() if event["event"] == "new"]
    read = after(0)
    assert [line["id"] for line in read] == live and live == sorted(set(live))
    assert [(line["csv_file"], line["version"]) for line in read] == [(str(first), 1), (str(second), 1),
                                                                      (str(first), 2)]
    assert after(read[-1]["id"]) == []
    assert [line["id"] for line in after(0, first)] == [live[0], live[2]]

    append(second, "3,while stopped\n")
    again = forked_running("--json")
    again.expect('"row": {"id": "3", "file": "while stopped"}')
    assert again.finish() == 0
    (later,) = after(read[-1]["id"])
    assert (later["csv_file"], later["row"], later["version"]) == (str(second), {"id": "3", "file": "while stopped"}, 2)
    assert later["id"] > read[-1]["id"]


@pytest.mark.long
def test_follow_prints_each_version_of_two_runners_once_in_id_order(cli, store, tmp_path, forked_running):
    paths = watched(cli, tmp_path, 6)
    runners = [forked_running("--json"), forked_running("--json")]
    watching = ['"csv_file": "%s", "event": "watching"' % path for path in paths]
    deadline = time.monotonic() + 60
    while not all(any(text in line for runner in runners for line in runner.lines()) for text in watching):
        assert time.monotonic() < deadline, "not every file watched within 60 s"
        time.sleep(0.05)  # polling the lines the runners printed until a deadline
    follower = script("csv_history", "--after", "0", "--follow", "--json")
    try:
        for round_number in range(5):
            for path in paths:
                append(path, "%d,%s\n" % (round_number, path.name))
        wanted = 5 * len(paths)  # rows, one line each (two appends may be one version)
        seen = []
        while len(seen) < wanted:
            line = follower.stdout.readline()
            assert line, "the follower ended early"
            seen.append(json.loads(line))
        follower.send_signal(signal.SIGTERM)
        assert follower.wait(30) == 0
        assert follower.stdout.read() == ""
    finally:
        follower.kill()
        follower.stdout.close()
        follower.stderr.close()
    ids = [line["id"] for line in seen]
    assert ids == sorted(ids), "the follower saw versions out of id order"
    assert [line["id"] for line in after(0)] == ids
    assert sorted((line["csv_file"], line["row"]["id"]) for line in seen) == sorted(
        (str(path), str(number)) for path in paths for number in range(5))


@pytest.mark.parametrize("arguments, message", [
    (["--follow"], "--follow goes with --after ID (--after 0 for everything recorded)."),
    (["--after", "0", "--show", "1"], "--after reads versions in the order they were recorded"),
    (["--after", "-1"], "-1 is not in the range x>=0"),
    ([], "Missing argument 'CSV_FILE'."),
])
def test_cursor_misuse_is_a_usage_error(home, arguments, message):
    result = forked_run("csv_history", *arguments)
    assert result.returncode == 2
    assert message in result.stderr
