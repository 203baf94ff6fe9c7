"""A runner that stops answering loses its watchers on PostgreSQL wherever it stopped: also in the middle of a
pipeline of statements, where its session stays ``active`` and the server's own timeouts never end it."""
import time

import psycopg
import pytest

from csv_manager.applications import CsvManagerApp

pytestmark = pytest.mark.timeout(60)

STALL_SECONDS = 3


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_a_runner_stopped_in_the_middle_of_a_pipeline_loses_its_lease_after_the_stall_bound(store):
    app = CsvManagerApp()
    try:
        history = app.app.plugins.get("CsvDocumentPlugin").setup_db()
        stalled, other = history.locks(STALL_SECONDS), history.locks(STALL_SECONDS)
        stalled.join()
        other.join()
        assert [lease.watcher_id for lease in stalled.claim([1], 1)] == [1]
        session = stalled._connection.connection.driver_connection
        with pytest.raises(psycopg.OperationalError):
            with session.pipeline():
                # One statement of a pipeline sent, the rest (and its Sync) never: as a runner SIGSTOPped in an
                # executemany leaves its session.
                session.execute("SELECT 1")
                session.pgconn.flush()
                started = time.monotonic()
                while not other.claim([1], 1):
                    assert time.monotonic() - started < 4 * STALL_SECONDS, "the stalled session was not ended"
                    other.check()
                    time.sleep(0.2)  # polling the other runner's heartbeat, as its run loop does every second
        assert time.monotonic() - started >= STALL_SECONDS - 1
        other.close()
    finally:
        app.stop()
