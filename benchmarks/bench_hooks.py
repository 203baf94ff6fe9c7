"""Benchmark of hook delivery (csv_hook_add --url) to a local webhook receiver, measured in one run.

    python benchmarks/bench_hooks.py [--backlog 100000] [--appends 20] [--watchers 100] [--seconds 10]

Prints one table:

- drain: a backlog of ``--backlog`` recorded versions (one new row each, written straight into the history
  tables, as many runs of csv_watcher_run would have left them while the receiver was down) delivered by one
  runner: versions per second from the first post to the last, each checked to arrive once and in id order.
  Against it, the same documents, signed, posted by a plain loop of http.client on one kept-alive connection:
  about the receiver's own ceiling on this machine;
- latency: ``--appends`` rows appended one at a time to a watched file: seconds from the runner printing the
  row to the receiver getting it (median and worst);
- idle CPU: a runner with ``--watchers`` idle file watchers over ``--seconds``, without hooks and with five.

Needs the package installed.
"""
import argparse
import hashlib
import hmac
import http.client
import http.server
import json
import os
import queue
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_runners import cpu_seconds, print_table  # noqa: E402  (a sibling script, not a package)
from tables import add_save_option, saving  # noqa: E402  (a sibling script, not a package)

from csv_manager.plugins.csv_document_plugin.version_writes import content_hash  # noqa: E402


class Receiver:
    """Keeps the posts it gets: (arrival time, document id, body) in ``posts``."""

    def __init__(self):
        self.posts = queue.Queue()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.posts.put((time.monotonic(), json.loads(body)["id"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *arguments):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def take(self, count, timeout=600):
        taken = []
        deadline = time.monotonic() + timeout
        while len(taken) < count:
            taken.append(self.posts.get(timeout=max(0.0, deadline - time.monotonic())))
        return taken


def csv_manager(home, *args):
    return subprocess.run([shutil.which("csv_manager"), *args], env=dict(os.environ, CSV_MANAGER_HOME=home),
                          check=True, capture_output=True, text=True)


def runner(home, stdout=subprocess.DEVNULL):
    return subprocess.Popen([shutil.which("csv_manager"), "csv_watcher_run", "--json"],
                            env=dict(os.environ, CSV_MANAGER_HOME=home, CSV_MANAGER_QUIET_SECONDS="0.2"),
                            stdout=stdout, stderr=subprocess.DEVNULL, text=True)


def stop(process):
    process.terminate()
    process.wait(60)


def write_backlog(home, csv_file, count):
    """Record ``count`` versions of ``csv_file``, each one new row, and its content after them as the file's
    snapshot (so the runner resumes from it); returns the content."""
    lines = ["%d,row %d\n" % (number, number) for number in range(count)]
    content = ("id,name\n" + "".join(lines)).encode()
    with sqlite3.connect(os.path.join(home, "history_db.db"), timeout=30) as connection:
        file_id = connection.execute(
            "INSERT INTO csv_history_files (csv_file, snapshot, snapshot_rows, snapshot_size, snapshot_version, "
            "content_hash, patched_bytes, pruned_versions) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            (csv_file, zlib.compress(content), count, len(content), count, content_hash(content))).lastrowid
        connection.executemany(
            "INSERT INTO csv_history_versions (id, file_id, seen_at, rows, new_count, missing_count, patch_start, "
            "patch_end, patch, event, changed_count) VALUES (?, ?, datetime('now'), ?, 1, 0, 0, 0, x'', 'change', 0)",
            [(number + 1, file_id, number + 1) for number in range(count)])
        connection.executemany(
            "INSERT INTO csv_history_rows (version_id, change, row) VALUES (?, 'new', ?)",
            [(number + 1, json.dumps({"id": str(number), "name": "row %d" % number})) for number in range(count)])
    return content


def hooked(workdir, name):
    """A home with a watched file and a webhook to a new Receiver: (home, csv_file, receiver, secret)."""
    home, csv_file = os.path.join(workdir, name), os.path.join(workdir, name + ".csv")
    with open(csv_file, "w") as stream:
        stream.write("id,name\n")
    receiver = Receiver()
    csv_manager(home, "csv_watcher_add", csv_file, "-i", "1")
    secret = csv_manager(home, "csv_hook_add", "bench", "--url", receiver.url).stdout.splitlines()[-1]
    return home, csv_file, receiver, secret


def measure_drain(workdir, count):
    home, csv_file, receiver, secret = hooked(workdir, "drain")
    with open(csv_file, "wb") as stream:
        stream.write(write_backlog(home, csv_file, count))
    process = runner(home)
    try:
        posts = receiver.take(count)
    finally:
        stop(process)
    ids = [version_id for _, version_id, _ in posts]
    assert ids == list(range(1, count + 1)), "the backlog was not delivered once each, in order"
    hook_rate = (count - 1) / (posts[-1][0] - posts[0][0])

    connection = http.client.HTTPConnection("127.0.0.1", receiver.server.server_address[1])
    started = time.monotonic()
    for _, version_id, body in posts:
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        connection.request("POST", "/hook", body=body, headers={
            "Content-Type": "application/json", "X-CsvManager-Signature-256": signature,
            "X-CsvManager-Delivery": str(version_id)})
        connection.getresponse().read()
    plain_rate = count / (time.monotonic() - started)
    receiver.take(count)
    receiver.server.shutdown()
    return hook_rate, plain_rate


def measure_latency(workdir, appends):
    home, csv_file, receiver, _ = hooked(workdir, "latency")
    process = runner(home, stdout=subprocess.PIPE)
    latencies = []
    try:
        while '"event": "watching"' not in process.stdout.readline():
            pass
        for number in range(appends):
            with open(csv_file, "a") as stream:
                stream.write("%d,appended\n" % number)
            while '"event": "new"' not in process.stdout.readline():
                pass
            printed = time.monotonic()
            arrived, _, _ = receiver.take(1)[0]
            latencies.append(max(0.0, arrived - printed))
    finally:
        stop(process)
        receiver.server.shutdown()
    return statistics.median(latencies), max(latencies)


def measure_idle(workdir, watchers, hooks, seconds):
    home = os.path.join(workdir, "idle-%d" % hooks)
    receiver = Receiver()
    for number in range(watchers):
        csv_file = os.path.join(workdir, "idle-%d-%d.csv" % (hooks, number))
        with open(csv_file, "w") as stream:
            stream.write("id,name\n1,idle\n")
        csv_manager(home, "csv_watcher_add", csv_file, "-i", "1")
    for number in range(hooks):
        csv_manager(home, "csv_hook_add", "hook%d" % number, "--url", receiver.url)
    process = runner(home, stdout=subprocess.PIPE)
    try:
        started = 0
        while started < watchers:
            started += '"event": "watching"' in process.stdout.readline()
        threading.Thread(target=process.stdout.read, daemon=True).start()
        time.sleep(2)  # settling after the start, not synchronisation: the measured window follows
        before, clock = cpu_seconds(process.pid), time.monotonic()
        time.sleep(seconds)  # the idle window being measured
        return 100 * (cpu_seconds(process.pid) - before) / (time.monotonic() - clock)
    finally:
        stop(process)
        receiver.server.shutdown()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backlog", type=int, default=100000)
    parser.add_argument("--appends", type=int, default=20)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    add_save_option(parser)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        hook_rate, plain_rate = measure_drain(workdir, options.backlog)
        median, worst = measure_latency(workdir, options.appends)
        idle = [measure_idle(workdir, options.watchers, hooks, options.seconds) for hooks in (0, 5)]
    print_table("hook delivery to a local receiver", [
        ("drain of %d versions, one runner" % options.backlog, "%.0f versions/s" % hook_rate),
        ("same documents, plain http.client loop",
         "%.0f posts/s (hook at %.2fx)" % (plain_rate, hook_rate / plain_rate)),
        ("printed -> received, %d appends" % options.appends, "median %.3f s, worst %.3f s" % (median, worst)),
        ("idle CPU, %d watchers, no hook" % options.watchers, "%.2f %%" % idle[0]),
        ("idle CPU, %d watchers, 5 hooks" % options.watchers,
         "%.2f %% (%s)" % (idle[1], "%.2fx" % (idle[1] / idle[0]) if idle[0] else "no CPU time measured without")),
    ])


if __name__ == "__main__":
    with saving():
        main()
