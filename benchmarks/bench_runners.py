"""Benchmark of many runners sharing the watchers, measured in one run on this machine.

    python benchmarks/bench_runners.py [--watchers 1000] [--kills 10] [--stalls 3] [--seconds 10] [--postgres URL]

Prints one table:

- time to settle: R runners started at once until every watcher is owned and none owns more than its share
  plus one (R = 1, 2, 4);
- takeover: one of R runners SIGKILLed until the others own all its watchers, median and worst of ``--kills``;
- takeover after a stall: one of 2 runners SIGSTOPped (outside a write transaction: on SQLite the benchmark holds
  the write lock meanwhile, see the README) until the other owns all its watchers, then SIGCONTed and settled
  again, median and worst of ``--stalls``; the target is the stall bound (RUNNER_STALL_SECONDS, 10) plus a poll;
- takeover after a partition (with ``--postgres``, as root): the same with one runner cut off from the server
  without a reset (tests/netcut.py: a network namespace and a relay), then reconnected;
- idle cost: CPU share of one runner with every file unchanged, against release 0.1.0's runner (from git, the
  commit below) watching the same files in the same run; the ratio must stay within 1.5.

Ownership is followed through the runners' own stderr lines (``Took N``, ``Handed over N``), read as they come,
so measuring costs the runners nothing. SQLite by default; ``--postgres URL`` runs the settle and takeover rows
on a fresh schema of that database instead. Needs the package installed and a git checkout.
"""
import argparse
import math
import os
import queue
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from tables import add_save_option, saving  # a sibling script, not a package

RELEASE_0_1_0 = "0c7c806"
#: The stall bound the runners get here: the default.
STALL_SECONDS = 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OWNERSHIP = re.compile(r"^(Took|Handed over|Stopped) (\d+) watcher")


class Runner:
    """A csv_watcher_run process; a thread follows how many watchers it owns from its stderr lines."""

    def __init__(self, environment, command=None, prefix=()):
        command = [*prefix, *(command or [shutil.which("csv_manager")])]
        self.process = subprocess.Popen(command + ["csv_watcher_run"], env=environment, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.owned = 0
        self.errors = []
        self.stdout_lines = queue.Queue()
        threading.Thread(target=self._follow, daemon=True).start()
        threading.Thread(target=self._pump, daemon=True).start()

    def _follow(self):
        for line in self.process.stderr:
            match = OWNERSHIP.match(line)
            if match:
                count = int(match.group(2))
                self.owned += count if match.group(1) == "Took" else -count
            else:
                self.errors.append(line)

    def _pump(self):
        for line in self.process.stdout:
            self.stdout_lines.put(line)

    def kill(self):
        self.process.kill()
        self.process.wait()

    def stop(self):
        self.process.terminate()
        self.process.wait(60)


def wait_settled(runners, watchers, timeout=120):
    """Seconds (monotonic time) when every watcher is owned by ``runners`` and none owns more than its share + 1."""
    fair = math.ceil(watchers / len(runners)) + 1
    deadline = time.monotonic() + timeout
    while True:
        if sum(runner.owned for runner in runners) == watchers and max(r.owned for r in runners) <= fair:
            return time.monotonic()
        if time.monotonic() > deadline:
            raise RuntimeError("not settled in %d s: owned %r; stderr: %r" % (
                timeout, [runner.owned for runner in runners], [runner.errors[-5:] for runner in runners]))
        time.sleep(0.01)  # the owned counts change in the reader threads; this only bounds the reaction time


def make_home(workdir, name, files, postgres=None, interval=1):
    """The environment of a new home watching ``files`` every ``interval`` seconds; its databases are in a new
    schema of the PostgreSQL database ``postgres`` if given."""
    home = os.path.join(workdir, name)
    environment = dict(postgres_environment(postgres) if postgres else os.environ, CSV_MANAGER_HOME=home)
    subprocess.run([shutil.which("csv_manager"), "csv_watcher_list"], env=environment, check=True,
                   capture_output=True)
    url = environment.get("CSV_MANAGER_DATABASE_URL")
    if url:
        from sqlalchemy import create_engine, text
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text('INSERT INTO csv_watchers (csv_file, "interval") VALUES (:path, :interval)'),
                               [{"path": path, "interval": interval} for path in files])
        engine.dispose()
    else:
        with sqlite3.connect(os.path.join(home, "watcher_db.db")) as connection:
            connection.executemany("INSERT INTO csv_watchers (csv_file, interval) VALUES (?, ?)",
                                   [(path, interval) for path in files])
    return environment


def settle_time(environment, count, watchers):
    started = time.monotonic()
    runners = [Runner(environment) for _ in range(count)]
    settled = wait_settled(runners, watchers) - started
    return runners, settled


def takeover_times(environment, count, watchers, kills):
    runners, _ = settle_time(environment, count, watchers)
    times = []
    try:
        for _ in range(kills):
            victim = runners.pop(0)
            killed = time.monotonic()
            victim.kill()
            times.append(wait_settled(runners, watchers) - killed)
            runners.append(Runner(environment))
            wait_settled(runners, watchers)
    finally:
        for runner in runners:
            runner.stop()
    return statistics.median(times), max(times)


def stall_takeover_times(environment, watchers, stalls, stall, resume):
    """Seconds until the other of 2 runners owns every watcher after ``stall(runner)`` stopped the first one from
    answering, ``stalls`` times, each followed by ``resume(runner)`` and a settled share again."""
    runners, _ = settle_time(environment, 2, watchers)
    times = []
    try:
        for _ in range(stalls):
            stalled, other = runners
            stalled_at = time.monotonic()
            stall(stalled)
            times.append(wait_settled([other], watchers) - stalled_at)
            resume(stalled)
            wait_settled(runners, watchers)
    finally:
        for runner in runners:
            resume(runner)
            runner.stop()
    return statistics.median(times), max(times)


def sigstop_outside_a_write(environment):
    """``stall(runner)`` for stall_takeover_times: SIGSTOP, on SQLite while holding the history database's write
    lock, so that the runner is not stopped inside a write transaction (which would keep every runner waiting)."""
    def stall(runner):
        if environment.get("CSV_MANAGER_HISTORY_DATABASE_URL"):
            runner.process.send_signal(signal.SIGSTOP)
            return
        history = os.path.join(environment["CSV_MANAGER_HOME"], "history_db.db")
        connection = sqlite3.connect(history, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            runner.process.send_signal(signal.SIGSTOP)
            while process_state(runner.process.pid) != "T":
                time.sleep(0.001)  # the stop is delivered asynchronously; there is nothing to wait on
            connection.execute("ROLLBACK")
        finally:
            connection.close()
    return stall


def partition_takeover_times(environment, watchers, stalls):
    """stall_takeover_times with the first runner in a network namespace, cut off from the server and joined
    again (PostgreSQL, as root)."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from netcut import Namespace, Relay  # a test helper, shared with tests/test_partition.py
    from sqlalchemy.engine import make_url

    url = make_url(environment["CSV_MANAGER_DATABASE_URL"])
    namespace = Namespace()
    relay = Relay(namespace.address, (url.host, url.port), STALL_SECONDS)
    inner = url.set(host=namespace.address, port=relay.port).render_as_string(hide_password=False)
    runners = [Runner(dict(environment, CSV_MANAGER_DATABASE_URL=inner, CSV_MANAGER_HISTORY_DATABASE_URL=inner),
                      prefix=namespace.command()), Runner(environment)]
    times = []
    try:
        wait_settled(runners, watchers)
        for _ in range(stalls):
            cut_at = time.monotonic()
            namespace.cut()
            times.append(wait_settled(runners[1:], watchers) - cut_at)
            namespace.heal()
            wait_settled(runners, watchers)
    finally:
        for runner in runners:
            runner.stop()
        relay.close()
        namespace.close()
    return statistics.median(times), max(times)


def process_state(pid):
    with open("/proc/%d/stat" % pid) as stream:
        return stream.read().rsplit(")", 1)[1].split()[0]


def idle_cpu_share(environment, watchers, seconds, command=None):
    """CPU share of one runner once all ``watchers`` baselines are recorded and printed."""
    runner = Runner(environment, command)
    for _ in range(watchers):
        runner.stdout_lines.get(timeout=300)
    history = os.path.join(environment["CSV_MANAGER_HOME"], "history_db.db")
    with sqlite3.connect(history, timeout=30) as connection:
        while connection.execute("SELECT count(*) FROM csv_history_files").fetchone()[0] < watchers:
            time.sleep(0.1)  # polling until the one-off baseline writes are done
    before, started = cpu_seconds(runner.process.pid), time.monotonic()
    time.sleep(seconds)  # measuring CPU use over a wall-clock window: the wait is the measurement
    share = (cpu_seconds(runner.process.pid) - before) / (time.monotonic() - started)
    runner.stop()
    return share


def print_table(title, table):
    """Print ``title``, then the (name, value) rows of ``table`` with the values aligned."""
    width = max(len(name) for name, _ in table)
    print(title)
    for name, value in table:
        print("%s  %s" % (name.ljust(width), value))


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as stream:
        fields = stream.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def release_0_1_0(workdir):
    """A command that runs release 0.1.0's csv_manager, unpacked from git."""
    source = os.path.join(workdir, "release-0.1.0")
    os.makedirs(source)
    archive = subprocess.run(["git", "-C", ROOT, "archive", RELEASE_0_1_0, "csv_manager"], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", source], input=archive, check=True)
    return ["env", "PYTHONPATH=%s" % source, sys.executable, "-c",
            "from csv_manager.applications.csv_manager_app import start_app; start_app()"]


def postgres_environment(url):
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url
    schema = "bench_%s" % uuid.uuid4().hex[:12]
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA %s" % schema))
    engine.dispose()
    schema_url = make_url(url).update_query_dict({"options": "-csearch_path=%s" % schema})
    schema_url = schema_url.render_as_string(hide_password=False)
    return dict(os.environ, CSV_MANAGER_DATABASE_URL=schema_url, CSV_MANAGER_HISTORY_DATABASE_URL=schema_url)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--stalls", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--postgres", help="a PostgreSQL URL to run the settle and takeover rows on")
    add_save_option(parser)
    arguments = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="csv_manager_bench_runners_")
    try:
        files = []
        for number in range(arguments.watchers):
            path = os.path.join(workdir, "file%05d.csv" % number)
            with open(path, "w") as stream:
                stream.write("id,value\n%d,1\n" % number)
            files.append(path)
        store = "PostgreSQL" if arguments.postgres else "SQLite"
        table = []
        for count in (1, 2, 4):
            environment = make_home(workdir, "settle%d" % count, files, arguments.postgres)
            runners, settled = settle_time(environment, count, arguments.watchers)
            for runner in runners:
                runner.stop()
            table.append(("settle, %d runner%s, %s" % (count, "" if count == 1 else "s", store),
                          "%.2f s" % settled))
        for count in (2, 4):
            environment = make_home(workdir, "takeover%d" % count, files, arguments.postgres)
            median, worst = takeover_times(environment, count, arguments.watchers, arguments.kills)
            table.append(("takeover after SIGKILL, 1 of %d runners, %s" % (count, store),
                          "median %.2f s, worst %.2f s of %d" % (median, worst, arguments.kills)))
        environment = dict(make_home(workdir, "stall", files, arguments.postgres),
                           CSV_MANAGER_RUNNER_STALL_SECONDS=str(STALL_SECONDS))
        median, worst = stall_takeover_times(environment, arguments.watchers, arguments.stalls,
                                             sigstop_outside_a_write(environment),
                                             lambda runner: runner.process.send_signal(signal.SIGCONT))
        table.append(("takeover after SIGSTOP, 1 of 2 runners, %s (bound %d s)" % (store, STALL_SECONDS),
                      "median %.2f s, worst %.2f s of %d" % (median, worst, arguments.stalls)))
        if arguments.postgres and os.geteuid() == 0:
            environment = dict(make_home(workdir, "partition", files, arguments.postgres),
                               CSV_MANAGER_RUNNER_STALL_SECONDS=str(STALL_SECONDS))
            median, worst = partition_takeover_times(environment, arguments.watchers, arguments.stalls)
            table.append(("takeover after a partition, 1 of 2 runners, %s (bound %d s)" % (store, STALL_SECONDS),
                          "median %.2f s, worst %.2f s of %d" % (median, worst, arguments.stalls)))
        new = idle_cpu_share(make_home(workdir, "idle-new", files), arguments.watchers,
                             arguments.seconds)
        old_environment = dict(os.environ, CSV_MANAGER_HOME=os.path.join(workdir, "idle-old"))
        old_command = release_0_1_0(workdir)
        subprocess.run(old_command + ["csv_watcher_list"], env=old_environment, check=True, capture_output=True)
        with sqlite3.connect(os.path.join(old_environment["CSV_MANAGER_HOME"], "watcher_db.db")) as connection:
            connection.executemany("INSERT INTO csv_watchers (csv_file, interval) VALUES (?, 1)",
                                   [(path,) for path in files])
        old = idle_cpu_share(old_environment, arguments.watchers, arguments.seconds, old_command)
        table.append(("idle CPU, 1 runner, release 0.1.0", "%.2f %% of a core" % (old * 100)))
        table.append(("idle CPU, 1 runner, this version", "%.2f %% of a core (%.2fx)" % (new * 100, new / old)))
        print_table("%d watchers, interval 1 s" % arguments.watchers, table)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    with saving(variant="postgres" if any(argument.startswith("--postgres") for argument in sys.argv) else None):
        main()
