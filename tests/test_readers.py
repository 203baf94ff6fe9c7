"""Reads never wait for writers: while another connection holds a write transaction open, the commands that
only read answer at once and csv_watcher_run starts, on SQLite and on PostgreSQL."""
import contextlib

import pytest
from sqlalchemy import create_engine

from helpers import forked_run
from csv_manager.database import SCHEMA_LOCK_ID

pytestmark = pytest.mark.timeout(120)

#: Far below the 30 s busy timeout a reader that queued for the write lock would wait; only a hang bound.
ANSWER_WITHIN = 10


@contextlib.contextmanager
def write_transaction_held(store):
    """A connection of this test process in the middle of a write transaction on the watcher database (on
    PostgreSQL also holding the lock that creating tables takes), rolled back on leaving."""
    engine = create_engine(store.url)
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        if store.name == "sqlite":
            connection.isolation_level = None
            cursor.execute("BEGIN IMMEDIATE")
        else:
            cursor.execute("SELECT pg_advisory_lock(%d)" % SCHEMA_LOCK_ID)
        cursor.execute("INSERT INTO csv_watchers (csv_file, \"interval\") VALUES ('/held/by/the/writer.csv', 1)")
        yield
    finally:
        connection.rollback()
        connection.close()
        engine.dispose()


def test_reads_answer_while_a_write_transaction_is_open(store, csv_file, forked_running):
    assert forked_run("csv_watcher_add", csv_file, "-i", "1").returncode == 0
    assert forked_run("csv_history", csv_file).returncode == 0, "creates the history tables, as any first use does"
    with write_transaction_held(store):
        listed = forked_run("csv_watcher_list", timeout=ANSWER_WITHIN)
        assert (listed.returncode, listed.stdout) == (0, "file: %s - interval: 1\n" % csv_file), listed.stderr
        assert forked_run("csv_watcher_list", "--json", timeout=ANSWER_WITHIN).returncode == 0
        history = forked_run("csv_history", csv_file, timeout=ANSWER_WITHIN)
        assert (history.returncode, history.stderr) == (
            0, "Nothing recorded for %s yet: csv_watcher_run records its changes.\n" % csv_file)
        watcher = forked_running()
        watcher.expect("watching %s" % csv_file, timeout=ANSWER_WITHIN)
    with open(csv_file, "a") as stream:
        stream.write("3,Linus\n")
    watcher.expect("has new row: {'id': '3', 'name': 'Linus'}")
