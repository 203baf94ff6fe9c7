"""Many csv_manager processes at once on one SQLite database: nothing lost, nobody stuck, no locked errors."""
import random
import signal
import subprocess
import time

import pytest

from forked import ForkedProcess

pytestmark = pytest.mark.timeout(300)


def start(*args):
    """One csv_manager process, forked (see forked.py): the point here is many processes at once."""
    return ForkedProcess(*args)


def finish(processes):
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=60)
        results.append((process.returncode, stdout, stderr))
    return results


def test_twenty_adds_of_the_same_file_store_one_row(cli, store, csv_file):
    cli("csv_watcher_list")
    results = finish([start("csv_watcher_add", csv_file) for _ in range(20)])
    codes = sorted(code for code, _, _ in results)
    assert codes == [0] + [1] * 19, results
    for code, stdout, stderr in results:
        if code == 1:
            assert stderr == "Error: %s is already watched.\n" % csv_file
    assert store.rows() == [(store.rows()[0][0], str(csv_file), 10)]


def test_twenty_adds_of_different_files_on_a_fresh_database_store_twenty_rows(store, tmp_path):
    files = []
    for number in range(20):
        path = tmp_path / ("f%d.csv" % number)
        path.write_text("a\n")
        files.append(path)
    results = finish([start("csv_watcher_add", path) for path in files])
    assert [code for code, _, _ in results] == [0] * 20, results
    assert sorted(row[1] for row in store.rows()) == sorted(map(str, files))


def test_mixed_commands_and_a_running_watcher_never_see_a_locked_database(cli, store, tmp_path, forked_running):
    files = []
    for number in range(10):
        path = tmp_path / ("m%d.csv" % number)
        path.write_text("a\n1\n")
        files.append(path)
    cli("csv_watcher_add", files[0], "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % files[0])
    processes = []
    for path in files[1:]:
        processes += [start("csv_watcher_add", path, "-i", "1"), start("csv_watcher_list"),
                      start("csv_watcher_delete", path), start("csv_watcher_list", "--json")]
    results = finish(processes)
    for code, stdout, stderr in results:
        assert "locked" not in stderr and "Traceback" not in stderr, stderr
        assert code in (0, 1), (code, stderr)
    assert watcher.stop() == 0
    stderr = watcher.drain("stderr")
    assert not any("locked" in line or "Traceback" in line for line in stderr), stderr


def test_adds_killed_at_random_moments_leave_an_intact_database(cli, store, tmp_path):
    cli("csv_watcher_list")
    probe = tmp_path / "probe.csv"
    probe.write_text("a\n")
    started = time.monotonic()
    probe_add = start("csv_watcher_add", probe)
    probe_add.communicate(timeout=60)
    assert probe_add.returncode == 0
    # Five adds at a time, each killed at its own moment. The moments are drawn around the time an add takes,
    # and the window adapts: it shrinks after an add that finished first and grows after one that was killed,
    # so about half of each land whatever the load.
    window = time.monotonic() - started
    generator = random.Random(20261127)
    reported, killed = [str(probe)], 0
    for batch in range(10):
        adds = []
        for number in range(batch * 5, batch * 5 + 5):
            path = tmp_path / ("k%d.csv" % number)
            path.write_text("a\n")
            adds.append((time.monotonic() + generator.uniform(0.5, 1.5) * window, path,
                         start("csv_watcher_add", path)))
        for kill_at, path, process in sorted(adds, key=lambda add: add[0]):
            try:
                process.wait(timeout=max(0.0, kill_at - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
            if process.returncode == 0:
                reported.append(str(path))
                window *= 0.9
            else:
                killed += 1
                window *= 1.1
    if store.name == "sqlite":
        assert store.execute("PRAGMA integrity_check") == [("ok",)]
    assert set(reported) <= {row[1] for row in store.rows()}
    print("%s: %d of 50 adds finished before their kill moment" % (store.name, len(reported) - 1))
    assert killed > 0 and len(reported) > 1, "the kill moments should land both before and after some adds finish"
