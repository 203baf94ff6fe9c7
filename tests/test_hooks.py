"""Hooks act on every recorded change: ``csv_hook_add NAME --url URL`` posts each version's JSON, signed with the
hook's secret, and ``--exec COMMAND`` runs a command with it on stdin. Delivery reads the record, not memory: a
receiver that was down, a runner killed with SIGKILL, two runners sharing a store, and each version still
arrives, in order, with the same id. Filters choose the versions; nothing in a CSV field reaches a shell."""
import hashlib
import hmac
import http.server
import json
import os
import queue
import signal
import sys
import threading
import time

import pytest

from helpers import append, forked_run

pytestmark = pytest.mark.timeout(150)


class Receiver:
    """A local webhook receiver: each POST's (headers, body) goes to ``posts``; ``stop()`` takes it down (the
    port then refuses connections), ``start()`` brings it up again on the same port."""

    def __init__(self):
        self.posts = queue.Queue()
        self.on_post = None
        self.port = 0
        self._server = None
        self._connections = 0
        self._closed = threading.Condition()
        self.start()

    @property
    def url(self):
        return "http://127.0.0.1:%d/hook" % self.port

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle(self):
                with receiver._closed:
                    receiver._connections += 1
                try:
                    super().handle()
                finally:
                    with receiver._closed:
                        receiver._connections -= 1
                        receiver._closed.notify_all()

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.put((dict(self.headers), body))
                if receiver.on_post is not None:
                    receiver.on_post()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *arguments):
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.shutdown()
        self._server.server_close()

    def wait_closed(self, timeout=30):
        """Wait until every connection was closed by its client, each request sent on it received."""
        with self._closed:
            assert self._closed.wait_for(lambda: self._connections == 0, timeout)

    def documents(self, count, timeout=30):
        """The next ``count`` posted documents, checked to be valid JSON; (headers, body, document) each."""
        received = []
        deadline = time.monotonic() + timeout
        while len(received) < count:
            try:
                headers, body = self.posts.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("%d of %d posts within %s s: %r" % (len(received), count, timeout, received))
            received.append((headers, body, json.loads(body)))
        return received


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


def add_webhook(cli, name, url, *options):
    """csv_hook_add NAME --url URL; returns the secret it printed."""
    result = cli("csv_hook_add", name, "--url", url, *options)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()[-1]


def signed(body, secret):
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def new_row_ids(runner):
    """{row id: version id} of the new rows a --json runner printed."""
    return {event["row"]["id"]: event["id"] for event in runner.events("new")}


def test_appended_rows_are_posted_within_a_second_signed_with_the_secret(
        cli, store, csv_file, receiver, forked_running):
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    secret = add_webhook(cli, "web", receiver.url)
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    append(csv_file, "3,Edsger\n4,Barbara\n")
    runner.expect('"name": "Barbara"')
    printed = time.monotonic()
    ((headers, body, document),) = receiver.documents(1)
    assert time.monotonic() - printed < 1.0
    assert headers["X-CsvManager-Signature-256"] == signed(body, secret)
    assert headers["X-CsvManager-Delivery"] == str(document["id"])
    events = runner.events("new")
    assert document == {"id": events[0]["id"], "csv_file": str(csv_file), "version": 1, "at": events[0]["at"],
                        "events": events}
    assert runner.finish() == 0
    assert receiver.posts.empty()


@pytest.mark.long
def test_a_receiver_down_for_20_seconds_gets_every_version_in_order_once_back(
        cli, csv_file, receiver, forked_running, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_HOOK_RETRY_MAX_SECONDS", "2")
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    secret = add_webhook(cli, "web", receiver.url)
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    receiver.stop()
    down = time.monotonic()
    for number in range(5):
        append(csv_file, "%d,while down\n" % (10 + number))
        runner.expect('"id": "%d"' % (10 + number))
    runner.expect("Hook web failed: cannot post to 127.0.0.1:%d: Connection refused" % receiver.port,
                  stream="stderr")
    listed = json.loads(cli("csv_hook_list", "--json").stdout)
    assert (listed[0]["backlog"], listed[0]["last_error"]) == (
        5, "cannot post to 127.0.0.1:%d: Connection refused" % receiver.port)
    time.sleep(max(0.0, 20 - (time.monotonic() - down)))  # the outage lasts 20 s, as a real one would
    receiver.start()
    posts = receiver.documents(5)
    runner.expect("Hook web delivers again", stream="stderr")
    ids = new_row_ids(runner)
    assert [document["id"] for _, _, document in posts] == [ids[str(10 + number)] for number in range(5)]
    assert all(headers["X-CsvManager-Signature-256"] == signed(body, secret) for headers, body, _ in posts)
    assert runner.finish() == 0
    assert [line for line in runner.lines("stderr") if line.startswith("Hook web")] == [
        "Hook web failed: cannot post to 127.0.0.1:%d: Connection refused; its deliveries wait and are tried again "
        "with backoff (at most every 2 s)" % receiver.port, "Hook web delivers again"]
    assert json.loads(cli("csv_hook_list", "--json").stdout)[0]["backlog"] == 0


@pytest.mark.long
def test_a_runner_killed_mid_backlog_delivers_the_rest_after_a_restart(
        cli, store, csv_file, receiver, forked_running):
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    add_webhook(cli, "web", receiver.url)
    receiver.stop()
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    for number in range(30):
        append(csv_file, "%d,backlog\n" % (10 + number))
        runner.expect('"id": "%d"' % (10 + number))
    recorded = sorted(new_row_ids(runner).values())
    fifth = threading.Event()
    receiver.on_post = lambda: fifth.set() if receiver.posts.qsize() >= 5 else None
    receiver.start()
    assert fifth.wait(30)
    runner.stop(signal.SIGKILL)
    receiver.on_post = None
    receiver.wait_closed()
    before = [document["id"] for _, _, document in receiver.documents(receiver.posts.qsize())]
    assert 5 <= len(before) < len(recorded) and before == recorded[:len(before)]
    again = forked_running("--json")
    after = []
    while not after or after[-1] != recorded[-1]:
        after += [document["id"] for _, _, document in receiver.documents(1)]
    assert again.finish() == 0
    assert receiver.posts.empty()
    # At least once: what the killed runner had delivered but not yet noted may come again, nothing is skipped.
    assert after == recorded[recorded.index(after[0]):] and after[0] <= before[-1] + 1, (before, after)


@pytest.mark.long
def test_two_runners_sharing_a_store_deliver_each_version_once(cli, store, tmp_path, receiver, forked_running):
    paths = [tmp_path / ("file%d.csv" % number) for number in range(6)]
    for path in paths:
        path.write_text("id,file\n")
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
    add_webhook(cli, "web", receiver.url)
    runners = [forked_running("--json"), forked_running("--json")]
    for runner in runners:
        runner.expect("Took", stream="stderr")
    watching = ['"csv_file": "%s", "event": "watching"' % path for path in paths]
    deadline = time.monotonic() + 60
    while not all(any(text in line for runner in runners for line in runner.lines()) for text in watching):
        assert time.monotonic() < deadline, "not every file watched within 60 s"
        time.sleep(0.05)  # polling the lines the runners printed until a deadline
    for number in range(3):
        for path in paths:
            append(path, "%d,%s\n" % (number, path.name))
    deadline = time.monotonic() + 60
    while True:  # asking the record until every row is in it (two appends may be one version)
        rows = [json.loads(line) for line in forked_run("csv_history", "--after", "0", "--json").stdout.splitlines()]
        if len(rows) == 3 * len(paths):
            break
        assert time.monotonic() < deadline, "not every row recorded within 60 s"
    ids = sorted({row["id"] for row in rows})
    posted = [document for _, _, document in receiver.documents(len(ids))]
    for runner in runners:
        assert runner.finish() == 0
    assert receiver.posts.empty(), "a version was delivered twice"
    assert sorted(document["id"] for document in posted) == ids
    for path in paths:
        mine = [document["version"] for document in posted if document["csv_file"] == str(path)]
        assert mine == sorted(mine), "the versions of %s came out of order" % path


@pytest.mark.long
def test_a_runner_that_takes_over_a_killed_ones_watcher_goes_on_from_its_saved_cursor(
        cli, store, tmp_path, receiver, forked_running):
    paths = [tmp_path / "first.csv", tmp_path / "second.csv"]
    for path in paths:
        path.write_text("id,file\n")
        assert cli("csv_watcher_add", path, "-i", "1").exit_code == 0
    add_webhook(cli, "web", receiver.url)
    killed, survivor = forked_running("--json"), forked_running("--json")
    for runner in (killed, survivor):
        runner.expect('"event": "watching"')
    owners = {watcher["csv_file"]: int(watcher["owner"]["pid"]) for watcher in json.loads(
        cli("csv_watcher_list", "--json", "--status").stdout)}
    orphan = next(path for path in paths if owners[str(path)] == killed.process.pid)
    for number in range(3):
        append(orphan, "%d,before\n" % number)
        killed.expect('"id": "%d", "file": "before"' % number)
    delivered = [document["id"] for _, _, document in receiver.documents(3)]
    deadline = time.monotonic() + 30
    while store.execute("SELECT max(version_id) FROM csv_hook_cursors WHERE watcher = :path",
                        {"path": str(orphan)}) != [(delivered[-1],)]:
        assert time.monotonic() < deadline, "the killed runner's deliveries not saved within 30 s"
        time.sleep(0.05)  # polling the database until a deadline
    killed.stop(signal.SIGKILL)
    survivor.expect('"csv_file": "%s", "event": "watching"' % orphan)
    append(orphan, "3,after\n")
    survivor.expect('"id": "3", "file": "after"')
    (document,) = [document for _, _, document in receiver.documents(1)]
    assert document["events"][0]["row"] == {"id": "3", "file": "after"}
    assert survivor.finish() == 0
    assert receiver.posts.empty(), "the survivor delivered again what the killed runner had delivered and saved"


RECORD = """import json, os, sys
document = json.load(sys.stdin)
with open(sys.argv[1], "a") as out:
    out.write(json.dumps({"env": [os.environ[name] for name in (
        "CSV_MANAGER_HOOK", "CSV_MANAGER_FILE", "CSV_MANAGER_VERSION", "CSV_MANAGER_VERSION_ID")],
        "document": document}) + "\\n")
"""


def exec_hook(cli, tmp_path, name, *options):
    """An exec hook that appends what it receives, and its environment, to ``NAME.jsonl``; returns a function
    that waits for ``count`` of its lines and returns them."""
    script = tmp_path / "record.py"
    script.write_text(RECORD)
    out = tmp_path / ("%s.jsonl" % name)
    result = cli("csv_hook_add", name, "--exec", "%s %s %s" % (sys.executable, script, out), *options)
    assert result.exit_code == 0, result.output

    def received(count, timeout=30):
        deadline = time.monotonic() + timeout
        while not out.exists() or len(out.read_text().splitlines()) < count:
            assert time.monotonic() < deadline, "hook %s ran fewer than %d times within %s s" % (name, count, timeout)
            time.sleep(0.05)  # polling the file the command writes until a deadline
        return [json.loads(line) for line in out.read_text().splitlines()]
    return received


def test_a_command_gets_the_version_on_stdin_and_no_field_reaches_a_shell(cli, tmp_path, forked_running):
    os.chdir(tmp_path)
    (tmp_path / "keep").write_text("kept")
    csv_file = tmp_path / "data.csv"
    csv_file.write_text("id,note\n")
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    received = exec_hook(cli, tmp_path, "run")
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    append(csv_file, '1,$(touch injected)\n2,"; rm -f keep"\n3,`touch injected2` && touch injected3\n')
    (line,) = received(1)
    assert line["env"] == ["run", str(csv_file), "1", str(line["document"]["id"])]
    assert [event["row"]["note"] for event in line["document"]["events"]] == [
        "$(touch injected)", "; rm -f keep", "`touch injected2` && touch injected3"]
    assert runner.finish() == 0
    assert sorted(os.listdir(tmp_path)) == sorted(["keep", "data.csv", "record.py", "run.jsonl", "home"])


def test_filters_choose_the_versions_by_event_column_and_rows_changed(cli, tmp_path, forked_running):
    csv_file = tmp_path / "people.csv"
    csv_file.write_text("id,name,city\n1,Ada,London\n2,Grace,New York\n")
    other = tmp_path / "other.csv"
    other.write_text("id,name\n")
    for path in (csv_file, other):
        assert cli("csv_watcher_add", path, "-i", "1", "--key", "id").exit_code == 0
    hooks = {"every": exec_hook(cli, tmp_path, "every"),
             "new": exec_hook(cli, tmp_path, "new", "--event", "new"),
             "name": exec_hook(cli, tmp_path, "name", "--column", "name", "--file", csv_file),
             "big": exec_hook(cli, tmp_path, "big", "--min-rows", "2"),
             "other": exec_hook(cli, tmp_path, "other", "--file", other)}
    runner = forked_running("--json")
    runner.expect_all(['"csv_file": "%s", "event": "watching"' % path for path in (csv_file, other)])
    steps = [("1,Ada,London\n2,Grace,New York\n3,Edsger,Austin\n", '"name": "Edsger"'),    # version 1: new
             ("1,Ada L.,London\n2,Grace,New York\n3,Edsger,Austin\n", '"Ada L."'),          # 2: name changed
             ("1,Ada L.,Paris\n2,Grace,New York\n3,Edsger,Austin\n", '"Paris"'),            # 3: city changed
             ("1,Ada L.,Paris\n4,Alan,Wilmslow\n5,Kurt,Vienna\n", '"name": "Kurt"')]        # 4: 2 new, 2 missing
    for content, printed in steps:
        csv_file.write_text("id,name,city\n" + content)
        runner.expect(printed)
    assert [line["document"]["version"] for line in hooks["every"](4)] == [1, 2, 3, 4]
    append(other, "1,Other\n")
    runner.expect('"name": "Other"')
    assert [line["document"]["csv_file"] for line in hooks["every"](5)][-1] == str(other)
    assert [line["document"]["csv_file"] for line in hooks["other"](1)] == [str(other)]
    assert runner.finish() == 0
    versions = {name: [line["document"]["version"] for line in received(0)
                       if line["document"]["csv_file"] == str(csv_file)] for name, received in hooks.items()}
    assert versions == {"every": [1, 2, 3, 4], "new": [1, 4], "name": [1, 2, 4], "big": [4], "other": []}


def test_hooks_are_added_listed_and_deleted_and_bad_ones_refused(cli, csv_file, store):
    assert cli("csv_watcher_add", csv_file).exit_code == 0
    result = cli("csv_hook_add", "alerts", "--url", "https://example.com/hooks/csv", "--event", "missing",
                 "--column", "name", "--min-rows", "10", "--file", csv_file)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "Added hook alerts: https://example.com/hooks/csv"
    secret = result.stdout.splitlines()[-1]
    assert len(secret) == 64 and "shown this once" in result.stderr
    assert cli("csv_hook_add", "log", "--exec", "cat -n").exit_code == 0
    result = cli("csv_hook_add", "private", "--url", "https://ci:hunter2@example.com/")
    assert result.stdout.splitlines()[0] == "Added hook private: https://ci:***@example.com/"
    listed = cli("csv_hook_list")
    assert listed.stdout.splitlines() == [
        "hook: alerts - https://example.com/hooks/csv - backlog: 0 - files: %s - events: missing - columns: name "
        "- min rows: 10" % csv_file,
        "hook: log - exec: cat -n - backlog: 0",
        "hook: private - https://ci:***@example.com/ - backlog: 0"]
    as_json = cli("csv_hook_list", "--json").stdout
    assert json.loads(as_json)[1] == {"name": "log", "exec": ["cat", "-n"], "url": None, "files": [], "events": [],
                                      "columns": [], "min_rows": None, "backlog": 0, "last_error": None,
                                      "failing_since": None}
    assert secret not in listed.output + as_json and "hunter2" not in listed.output + as_json

    rows = store.execute("SELECT * FROM csv_hooks ORDER BY id")
    for arguments, code, message in [
        (["alerts", "--exec", "cat"], 1, "A hook named alerts exists already."),
        (["new", "--exec", "cat", "--url", "http://localhost/"], 2, "Give one of --exec COMMAND or --url URL."),
        (["new"], 2, "Give one of --exec COMMAND or --url URL."),
        (["new", "--exec", "no-such-program --flag"], 2, "no-such-program: no such program (or not executable)"),
        (["new", "--exec", "cat 'unclosed"], 2, "cannot split \"cat 'unclosed\": No closing quotation"),
        (["new", "--url", "ftp://example.com/"], 2, "'ftp://example.com/' is not an http:// or https:// URL"),
        (["new", "--exec", "cat", "--file", "/nowhere.csv"], 1, "/nowhere.csv is not watched"),
        (["new", "--exec", "cat", "--event", "renamed"], 2, "'renamed' is not one of 'new', 'missing'"),
        (["_bad", "--exec", "cat"], 2, "'_bad' is not a hook name"),
        (["a b", "--exec", "cat"], 2, "'a b' is not a hook name"),
        (["new", "--exec", "cat", "--min-rows", "0"], 2, "0 is not in the range x>=1"),
    ]:
        result = cli("csv_hook_add", *arguments)
        assert (result.exit_code, message in result.stderr) == (code, True), (arguments, result.output)
    assert store.execute("SELECT * FROM csv_hooks ORDER BY id") == rows

    assert cli("csv_hook_delete", "alerts").stdout == "Removed hook alerts\n"
    result = cli("csv_hook_delete", "alerts")
    assert (result.exit_code, result.stderr) == (1, "Error: No hook named alerts.\n")
    assert [row[1] for row in store.execute("SELECT * FROM csv_hooks ORDER BY id")] == ["log", "private"]


def test_a_hook_gets_only_what_is_recorded_after_it_was_added(cli, csv_file, tmp_path, forked_running):
    assert cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    runner = forked_running("--json")
    runner.expect('"event": "watching"')
    append(csv_file, "3,before\n")
    runner.expect('"name": "before"')
    received = exec_hook(cli, tmp_path, "late")
    append(csv_file, "4,after\n")
    runner.expect('"name": "after"')
    assert [event["row"]["name"] for line in received(1) for event in line["document"]["events"]] == ["after"]
    assert runner.finish() == 0
    assert len(received(1)) == 1


def test_a_bad_retry_setting_is_refused_before_the_runner_starts(cli, csv_file, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_HOOK_RETRY_MAX_SECONDS", "soon")
    result = forked_run("csv_watcher_run")
    assert result.returncode == 1
    assert ("HOOK_RETRY_MAX_SECONDS or CSV_MANAGER_HOOK_RETRY_MAX_SECONDS) must be a whole number of seconds from "
            "1 to 3600, not 'soon'.") in result.stderr
