"""Many runners, one truth: csv_watcher_run processes sharing one store report and record every change exactly
once, share the watchers evenly, and take over from a runner that dies or loses its database session."""
import json
import math
import re
import signal
import socket
import sqlite3
import threading
import time

import pytest

pytestmark = pytest.mark.timeout(150)

#: How soon the issue wants a share settled or an orphaned watcher owned again.
SETTLE_SECONDS = 5
#: The lines in which a runner says how many watchers it took or gave up.
OWNERSHIP = re.compile(r"^(Took|Handed over|Stopped) (\d+) watchers?\b")


def make_files(cli, tmp_path, count):
    files = []
    for number in range(count):
        path = tmp_path / ("file%02d.csv" % number)
        path.write_text("id,file\n")
        files.append(path)
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
    return files


def listing(cli):
    listed = cli("csv_watcher_list", "--json")
    assert listed.exit_code == 0, listed.output
    return json.loads(listed.stdout)


def owned_counts(cli, runners):
    """{runner pid: watchers it owns} from csv_watcher_list --json, plus the count of unowned ones under None."""
    counts = {runner.process.pid: 0 for runner in runners}
    counts[None] = 0
    for watcher in listing(cli):
        pid = int(watcher["owner"]["pid"]) if watcher["owner"] else None
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def owned(runner):
    """How many watchers ``runner`` owns by its own account: its Took, Handed over and Stopped lines so far."""
    runner.drain("stderr")
    count = 0
    for line in runner.seen["stderr"]:
        match = OWNERSHIP.match(line)
        if match:
            count += int(match.group(2)) if match.group(1) == "Took" else -int(match.group(2))
    return count


def wait_until(condition, timeout, what, started=None):
    """Poll ``condition()`` until true (it reads lines the runners already printed: cheap); returns the seconds
    since ``started`` (default: now)."""
    started = time.monotonic() if started is None else started
    while not condition():
        assert time.monotonic() - started < timeout, "%s not within %s s" % (what, timeout)
        time.sleep(0.05)
    return time.monotonic() - started


def settled(runners, watchers):
    """Every watcher owned by one of ``runners``, none owning more than its share plus one."""
    def check():
        counts = [owned(runner) for runner in runners]
        return sum(counts) == watchers and max(counts) <= math.ceil(watchers / len(runners)) + 1
    return check


def watching(runners, files):
    """Every one of ``files`` announced as ``watching`` by one of the ``--json`` runners: its first read is
    recorded. Until then a runner that stops takes the file's content with it, and the runner that takes the
    watcher over reads the file as a silent baseline, rows written meanwhile included."""
    wanted = {str(path) for path in files}

    def check():
        for runner in runners:
            runner.drain()
        lines = [json.loads(line) for runner in runners for line in runner.seen["stdout"]]
        return wanted <= {event["csv_file"] for event in lines if event["event"] == "watching"}
    return check


def assert_listing_agrees(cli, runners, timeout=10):
    """csv_watcher_list --json names the same owners, for as many watchers, as the runners say they own (once
    the locks of watchers just handed over are released, which follows their queued writes)."""
    deadline = time.monotonic() + timeout
    while True:
        listed = owned_counts(cli, runners)
        said = {runner.process.pid: owned(runner) for runner in runners}
        said[None] = 0
        if listed == said:
            return
        assert time.monotonic() < deadline, "csv_watcher_list says %r, the runners %r" % (listed, said)
        time.sleep(0.5)  # each look is a whole csv_manager command: not in a tight loop


class Appender:
    """Appends one numbered row to every file in turn, in a thread, until stopped; remembers what it wrote."""

    def __init__(self, files):
        self.files = files
        self.written = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join(30)

    def _run(self):
        number = 0
        while not self._stop.wait(0.25):
            number += 1
            for path in self.files:
                with open(path, "a") as stream:
                    stream.write("%d,%s\n" % (number, path.name))
                self.written.append((str(path), {"id": str(number), "file": path.name}))


def reported(runners):
    """(csv_file, row) of every "new" JSON line the runners printed, repeated as often as printed."""
    lines = [line for runner in runners for line in runner.seen["stdout"]]
    return [(event["csv_file"], event["row"]) for event in map(json.loads, lines) if event["event"] == "new"]


def recorded(cli, files):
    rows = []
    for path in files:
        history = cli("csv_history", path, "--json")
        assert history.exit_code == 0, history.output
        rows += [(event["csv_file"], event["row"]) for event in map(json.loads, history.stdout.splitlines())
                 if event["change"] == "new"]
    return rows


def assert_exactly_once(written, rows, where, may_miss=()):
    """Each written row is among ``rows`` once; rows in ``may_miss`` may also be absent."""
    counted = {}
    for csv_file, row in rows:
        key = (csv_file, row["id"])
        counted[key] = counted.get(key, 0) + 1
    twice = {key: count for key, count in counted.items() if count > 1}
    missing = [(csv_file, row["id"]) for csv_file, row in written
               if (csv_file, row["id"]) not in counted and (csv_file, row["id"]) not in may_miss]
    assert not twice, "reported more than once %s: %r" % (where, sorted(twice)[:10])
    assert not missing, "never reported %s: %r" % (where, missing[:10])
    assert set(counted) <= {(csv_file, row["id"]) for csv_file, row in written}


def wait_reported(runners, written, timeout=20):
    """Wait until every written row has been printed by one of the runners, still alive or already dead, or
    until ``timeout``; returns the rows never printed."""
    wanted = {(csv_file, row["id"]) for csv_file, row in written}
    deadline = time.monotonic() + timeout
    while True:
        for runner in runners:
            runner.drain()
        unseen = wanted - {(csv_file, row["id"]) for csv_file, row in reported(runners)}
        if not unseen or time.monotonic() > deadline:
            return unseen
        time.sleep(0.2)


def terminate_session(store, runner):
    """pg_terminate_backend on the session through which ``runner`` holds its watchers."""
    name = "csv_manager %s:%d" % (socket.gethostname(), runner.process.pid)
    ended = store.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :name",
                          {"name": name})
    assert ended == [(True,)], ended


@pytest.mark.long
def test_three_runners_report_and_record_every_row_exactly_once_through_a_kill_and_a_lost_session(
        cli, store, tmp_path, forked_running):
    files = make_files(cli, tmp_path, 30)
    runners = [forked_running("--json") for _ in range(3)]
    wait_until(settled(runners, 30), 30, "30 watchers shared by 3 runners")
    wait_until(watching(runners, files), 30, "the first read of every file recorded")
    assert_listing_agrees(cli, runners)
    with Appender(files) as appender:
        wait_until(lambda: len(appender.written) >= 150, 30, "150 rows written")
        killed = runners[0]
        owned_by_killed = {watcher["csv_file"] for watcher in listing(cli)
                           if watcher["owner"] and watcher["owner"]["pid"] == killed.process.pid}
        orphaned = time.monotonic()
        killed.stop(signal.SIGKILL)
        if store.name == "postgresql":
            terminate_session(store, runners[1])
            runners[1].expect("Stopped", stream="stderr")
        # How soon (the 5 s target) is benchmarks/bench_runners.py's "takeover" row; the wait bounds a hang: under
        # the whole suite on two cores it took 5.2 to 14.2 s in about one suite out of five, on the code before
        # the web view as well.
        wait_until(settled(runners[1:], 30), 30, "the orphaned watchers owned again", started=orphaned)
        after = len(appender.written)
        wait_until(lambda: len(appender.written) >= after + 150, 30, "150 more rows written to the new owners")
    unseen = wait_reported(runners, appender.written)
    for runner in runners[1:]:
        assert runner.finish() == 0
    assert_exactly_once(appender.written, recorded(cli, files), "in csv_history")
    # The one gap the README owns up to: a runner SIGKILLed between recording a change and printing it leaves the
    # change recorded (checked above) and unprinted. Only the killed runner's files may have such rows.
    assert {csv_file for csv_file, _ in unseen} <= owned_by_killed, unseen
    assert_exactly_once(appender.written, reported(runners), "on stdout", may_miss=unseen)
    if store.name == "postgresql":
        assert any("Stopped" in line for line in runners[1].lines("stderr"))


def test_runners_share_the_watchers_and_hand_them_over_when_one_joins_or_leaves(cli, store, tmp_path, forked_running):
    make_files(cli, tmp_path, 30)
    runners = [forked_running() for _ in range(3)]
    wait_until(settled(runners, 30), SETTLE_SECONDS + 10, "30 watchers shared by 3 runners")
    assert_listing_agrees(cli, runners)
    joined = forked_running()
    took = wait_until(settled(runners + [joined], 30), 30, "a fourth runner's share")
    assert took < SETTLE_SECONDS, "the fourth runner got its share after %.1f s" % took
    assert_listing_agrees(cli, runners + [joined])
    assert joined.stop() == 0
    joined.expect(": this runner stops", stream="stderr")
    left = wait_until(settled(runners, 30), 30, "the leaving runner's watchers handed over")
    assert left < SETTLE_SECONDS, "the watchers of the runner that left were owned again after %.1f s" % left
    handed = [line for runner in runners for line in runner.lines("stderr")]
    assert any(line.startswith("Handed over ") for line in handed), handed


def test_a_watcher_added_again_with_another_interval_reports_each_change_once(cli, store, csv_file, forked_running):
    cli("csv_watcher_add", csv_file, "-i", "1")
    watcher = forked_running()
    watcher.expect("watching %s" % csv_file)
    with open(csv_file, "a") as stream:
        stream.write("3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
    assert cli("csv_watcher_delete", csv_file).exit_code == 0
    assert cli("csv_watcher_add", csv_file, "-i", "2").exit_code == 0
    with open(csv_file, "a") as stream:
        stream.write("4,Guido\n")
    watcher.expect("has new row: {'id': '4', 'name': 'Guido'}")
    assert watcher.finish() == 0
    assert [line for line in watcher.seen["stdout"] if "row:" in line] == [
        "%s has new row: {'id': '3', 'name': 'Linus'}" % csv_file,
        "%s has new row: {'id': '4', 'name': 'Guido'}" % csv_file]


def test_runners_started_at_the_same_moment_on_a_fresh_home_all_join(cli, home, tmp_path, forked_running):
    make_files(cli, tmp_path, 4)
    runners = [forked_running() for _ in range(4)]
    wait_until(lambda: [owned(runner) for runner in runners] == [1, 1, 1, 1], 30, "one watcher owned by each runner")
    assert_listing_agrees(cli, runners)
    for runner in runners:
        assert runner.stop() == 0
        assert not [line for line in runner.lines("stderr")
                    if "Error" in line or "Traceback" in line]


def stop_outside_a_write(store, home, runner):
    """SIGSTOP ``runner`` while it is not inside a write transaction: on SQLite, by holding the history database's
    write lock meanwhile. A runner stopped inside one would keep SQLite's write lock, which nothing can take from
    a live process, and every other runner would wait for it (the README owns up to this)."""
    if store.name != "sqlite":
        runner.process.send_signal(signal.SIGSTOP)
        return
    connection = sqlite3.connect(home / "history_db.db", timeout=30, isolation_level=None)
    try:
        connection.execute("BEGIN IMMEDIATE")
        runner.process.send_signal(signal.SIGSTOP)
        wait_until(lambda: process_state(runner.process.pid) == "T", 10, "the runner stopped")
        connection.execute("ROLLBACK")
    finally:
        connection.close()


def process_state(pid):
    """The state letter of process ``pid`` in /proc (R, S, T for stopped ...)."""
    with open("/proc/%d/stat" % pid) as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def test_a_stopped_runner_loses_its_watchers_to_the_other_and_rejoins_when_continued(
        cli, store, home, tmp_path, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_RUNNER_STALL_SECONDS", "4")
    files = make_files(cli, tmp_path, 10)
    runners = [forked_running("--json") for _ in range(2)]
    wait_until(settled(runners, 10), 30, "10 watchers shared by 2 runners")
    wait_until(watching(runners, files), 30, "the first read of every file recorded")
    stalled, other = runners
    stop_outside_a_write(store, home, stalled)
    stopped = time.monotonic()
    written = []
    took = seconds_until_reported(other, files, "stalled", written, started=stopped)
    assert took < 15, "the stopped runner's rows took %.1f s" % took

    stalled.process.send_signal(signal.SIGCONT)
    stalled.expect("Stopped", stream="stderr")
    assert_rejoined_and_each_row_once(cli, runners, files, written)


def seconds_until_reported(runner, files, mark, written, started):
    """Append a row marked ``mark`` to each of ``files`` (noted in ``written``); the seconds from ``started``
    until ``runner`` has printed them all."""
    for path in files:
        append_row(path, mark, written)
    try:
        return wait_until(lambda: not wait_reported([runner], written, timeout=0), 30,
                          "every %s row reported by the runner left" % mark, started=started)
    except AssertionError as error:
        raise AssertionError("%s; unreported: %r; the runner's last stderr lines: %r" % (
            error, sorted(wait_reported([runner], written, timeout=0)), runner.lines("stderr")[-10:]))


def assert_rejoined_and_each_row_once(cli, runners, files, written, timeout=30):
    """Once ``runners`` share the watchers of ``files`` again, a row appended to each is reported; every row
    ``written`` was printed once and recorded once, all told."""
    wait_until(settled(runners, len(files)), timeout, "the runners sharing the watchers again")
    for path in files:
        append_row(path, "rejoined", written)
    assert wait_reported(runners, written) == set()
    for runner in runners:
        assert runner.finish() == 0
    assert_exactly_once(written, reported(runners), "on stdout")
    assert_exactly_once(written, recorded(cli, files), "in csv_history")


@pytest.mark.parametrize("setting", ["2", "ten", "3601"])
def test_a_bad_stall_bound_is_refused(cli, home, monkeypatch, setting):
    monkeypatch.setenv("CSV_MANAGER_RUNNER_STALL_SECONDS", setting)
    result = cli("csv_watcher_run")
    assert result.exit_code == 1
    assert result.stderr == ("Error: The stall bound (RUNNER_STALL_SECONDS or CSV_MANAGER_RUNNER_STALL_SECONDS) must "
                             "be a whole number of seconds from 3 to 3600, not %r.\n" % setting)


def append_row(path, mark, written):
    number = len(written) + 1
    with open(path, "a") as stream:
        stream.write("%d,%s\n" % (number, mark))
    written.append((str(path), {"id": str(number), "file": mark}))
