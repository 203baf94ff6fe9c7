"""Benchmark of the web view, measured in one run on this machine.

    python benchmarks/bench_web.py [--watchers 10000] [--rows 50000] [--pages 50] [--seconds 10]

Prints one table:

- serving: the watchers' page and /csv/history with ``--watchers`` watchers and as many files with history,
  a file's page and the first and last page of a version of ``--rows`` new rows, through Flask's test client
  in this process (best and median of 5), as a share of the 300 ms target, beside a static file served the
  same way (what any request costs);
- idle: CPU share of a ``server_start waitress`` process over ``--seconds`` with ``--pages`` pages open (their
  event streams connected) and nothing changing, beside the same server with no page open; target: 2 % of a
  core;
- live: from a runner printing a change to an open page's event stream telling it, median and worst of 5;
  target: 1 s.

Needs the package installed (the csv_manager script next to this Python).
"""
import argparse
import datetime
import http.client
import json
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

from tables import add_save_option, saving  # a sibling script, not a package

TARGET_MS = 300
SCRIPT = os.path.join(os.path.dirname(sys.executable), "csv_manager")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=10000)
    parser.add_argument("--rows", type=int, default=50000)
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    add_save_option(parser)
    options = parser.parse_args()
    home = tempfile.mkdtemp(prefix="bench_web.")
    os.environ["CSV_MANAGER_QUIET_SECONDS"] = "0.2"
    try:
        print("| measure | value | target | ratio to target |")
        print("|---|---|---|---|")
        os.environ["CSV_MANAGER_HOME"] = os.path.join(home, "serving")
        serving(home, options.watchers, options.rows)
        # The server and runner phases start from an empty home: a runner of 10,000 watchers of files that do
        # not exist is not what they measure.
        os.environ["CSV_MANAGER_HOME"] = os.path.join(home, "live")
        port = _free_port()
        os.environ["CSV_MANAGER_WEB_PORT"] = str(port)
        idle(port, options.pages, options.seconds)
        live(home, port)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def serving(home, watchers, rows):
    from csv_manager.applications import CsvManagerApp

    app = CsvManagerApp(web=True)
    try:
        plugin = app.app.plugins.get("CsvWebPlugin")
        big = os.path.join(home, "big.csv")
        _fill(app, watchers, big, rows)
        client = plugin.web.flask.test_client()
        base = "http://" + app.app.config.get("FLASK_SERVER_NAME")
        client.get("/?token=" + plugin.guard.token, base_url=base)
        requests = [("a static file (reference)", "/csv/static/csv_manager.css"),
                    ("watchers' page, %d watchers" % watchers, "/admin/admin_csvwatchers/"),
                    ("/csv/history, %d files" % (watchers + 1), "/csv/history"),
                    ("a file's page, %d-row version" % rows, "/csv/history?file=" + big),
                    ("version page 1 of %d rows" % rows, "/csv/history/version?version=1&file=" + big),
                    ("version page %d of %d rows" % (-(-rows // 500), rows),
                     "/csv/history/version?version=1&page=%d&file=%s" % (-(-rows // 500), big))]
        for name, path in requests:
            times = []
            for _ in range(5):
                start = time.perf_counter()
                response = client.get(path, base_url=base)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            print("| serving: %s | best %.1f ms, median %.1f ms | %d ms | %.2f |"
                  % (name, min(times), statistics.median(times), TARGET_MS, statistics.median(times) / TARGET_MS))
    finally:
        app.stop()


def _fill(app, watchers, big, rows):
    """``watchers`` watchers of files that each have a one-version history, and ``big`` with one version of
    ``rows`` new rows, recorded through the History itself."""
    from sqlalchemy import insert

    from csv_manager.database import transaction
    from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
    from csv_manager.patterns.csv_watcher_pattern.version import read

    watcher_plugin = app.app.plugins.get("CsvWatcherDbPlugin")
    history = app.app.plugins.get("CsvDocumentPlugin").setup_db()
    files = ["/data/drop/export-%05d.csv" % number for number in range(watchers)]
    with transaction(watcher_plugin.db, writes=True) as session:
        session.execute(insert(watcher_plugin.Watcher), [{"csv_file": path, "interval": 10} for path in files])
    now = datetime.datetime.utcnow()
    snapshot = zlib.compress(b"id,name\n1,a\n")
    with transaction(history.db, writes=True) as session:
        session.execute(insert(history.File), [
            {"id": number + 1, "csv_file": path, "snapshot": snapshot, "snapshot_rows": 1, "snapshot_size": 12,
             "snapshot_version": 0, "content_hash": "0" * 32, "patched_bytes": 0}
            for number, path in enumerate(files)])
        session.execute(insert(history.Version), [
            {"id": number + 1, "file_id": number + 1, "seen_at": now, "rows": 2, "new_count": 1,
             "missing_count": 0, "patch_start": 12, "patch_end": 12, "patch": zlib.compress(b"2,b\n")}
            for number in range(watchers)])
        session.execute(insert(history.Row), [
            {"version_id": number + 1, "change": "new", "row": json.dumps({"id": "2", "name": "b"})}
            for number in range(watchers)])
    old = b"id,name,value\n"
    new = old + b"".join(b"%d,name %d,%d\n" % (number, number, number * 7) for number in range(rows))
    with open(big, "wb") as stream:
        stream.write(new)
    change, _ = diff(read(old), new)
    history.start()
    history.record_baseline(big, 0, old)
    history.record_change(big, change.new_rows, change.missing_rows, change.changed_rows, None, change.rows,
                          change.patch, new)
    history.wait_until_recorded(big, timeout=120)
    history.stop()


def idle(port, pages, seconds):
    shares = {}
    for count in (0, pages):
        server = _Server()
        streams = [_Stream(port, server.token) for _ in range(count)]
        for stream in streams:
            stream.connected.wait(10)
        before = _cpu_seconds(server.process.pid)
        time.sleep(seconds)
        shares[count] = (_cpu_seconds(server.process.pid) - before) / seconds
        for stream in streams:
            stream.close()
        server.stop()
    print("| idle: server with no page open | %.2f %% of a core | | |" % (100 * shares[0]))
    print("| idle: server with %d pages open | %.2f %% of a core | 2 %% | %.2f |"
          % (pages, 100 * shares[pages], 100 * shares[pages] / 2))


def live(home, port):
    path = os.path.join(home, "live.csv")
    with open(path, "w") as stream:
        stream.write("id,name\n1,a\n")
    subprocess.run([SCRIPT, "csv_watcher_add", path, "-i", "1"], check=True, capture_output=True)
    runner = subprocess.Popen([SCRIPT, "csv_watcher_run"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    printed = queue.Queue()
    threading.Thread(target=lambda: [printed.put((time.monotonic(), line)) for line in runner.stdout],
                     daemon=True).start()
    server = _Server()
    delays = []
    try:
        _line(printed, "watching")
        for number in range(2, 7):
            stream = _Stream(port, server.token)
            stream.connected.wait(10)
            with open(path, "a") as writer:
                writer.write("%d,b\n" % number)
            printed_at = _line(printed, "has new row")
            delays.append(stream.changed.get(timeout=30) - printed_at)
            stream.close()
    finally:
        server.stop()
        _stop(runner)
    print("| live: runner prints a change → page's stream tells it | median %.0f ms, worst %.0f ms | 1000 ms | %.2f |"
          % (1000 * statistics.median(delays), 1000 * max(delays), max(delays)))


def _line(lines, text):
    while True:
        moment, line = lines.get(timeout=60)
        if text in line:
            return moment


class _Server:
    def __init__(self):
        self.process = subprocess.Popen([SCRIPT, "server_start", "waitress"], stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        self.token = self.process.stdout.readline().rpartition("token=")[2].strip()

    def stop(self):
        _stop(self.process)


class _Stream:
    """An open page's event stream: ``connected`` once the server answered, ``changed`` gets the moment of each
    change event."""

    def __init__(self, port, token):
        self.connected = threading.Event()
        self.changed = queue.Queue()
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.connection.request("GET", "/csv/events", headers={"Authorization": "token " + token})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            response = self.connection.getresponse()
            self.connected.set()
            for line in response:
                if line.startswith(b"event: change"):
                    self.changed.put(time.monotonic())
        except (OSError, ValueError, http.client.HTTPException):
            pass

    def close(self):
        self.connection.close()


def _stop(process):
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stream:
        fields = stream.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    with saving():
        main()
