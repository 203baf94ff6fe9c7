"""Fixtures: an isolated CSV_MANAGER_HOME per test, the installed csv_manager script, and the app in-process
(the helpers they use, which tests import too, are in helpers.py)."""
import os
import uuid

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from csv_manager.applications import CsvManagerApp
from forked import ForkedProcess
from helpers import Running, Store, script

#: A PostgreSQL database the tests may create schemas in; .ci/run starts a server and sets it.
POSTGRES_URL = os.environ.get("CSV_MANAGER_TEST_POSTGRES_URL")


def pytest_collection_modifyitems(items):
    """Long tests first, one after the other on one worker: pytest-xdist hands tests out in this order (a long one
    started last would leave the other workers idle while it runs), and with ``--dist loadgroup`` (tox.ini) an
    xdist_group stays on one worker. Several runners, their writers and PostgreSQL servers of their own at once
    starved each other's takeover bounds on two cores (an orphaned watcher owned again after 6 to 14 s instead
    of 2, in about one suite out of three)."""
    for item in items:
        if item.get_closest_marker("long") is not None and item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group("long"))
    items.sort(key=lambda item: item.get_closest_marker("long") is None)


@pytest.fixture
def home(tmp_path, monkeypatch):
    """A fresh application folder; the environment points csv_manager at it.

    Runners wait a quiet period of 0.5 s, not the default 2 s, before reporting a state that may be a writer's
    intermediate one: the waiting is the same code whatever its length, and at 2 s it was a tenth of the suite's
    time. Tests whose writers pause, or about the quiet period itself, set their own.
    """
    path = tmp_path / "home"
    monkeypatch.setenv("CSV_MANAGER_HOME", str(path))
    monkeypatch.setenv("CSV_MANAGER_QUIET_SECONDS", "0.5")
    monkeypatch.delenv("CSV_MANAGER_DATABASE_URL", raising=False)
    monkeypatch.delenv("CSV_MANAGER_HISTORY_DATABASE_URL", raising=False)
    return path


@pytest.fixture
def csv_file(tmp_path):
    """A small CSV file to watch."""
    path = tmp_path / "data.csv"
    path.write_text("id,name\n1,Ada\n2,Grace\n")
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, home, monkeypatch):
    """Each test that uses it runs twice: on the default SQLite file in ``home``, then on a fresh schema of the
    PostgreSQL server named by CSV_MANAGER_TEST_POSTGRES_URL (skipped without it, but required when CI=true)."""
    if request.param == "sqlite":
        yield Store("sqlite", "sqlite:///%s" % (home / "watcher_db.db"))
        return
    if not POSTGRES_URL:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but CSV_MANAGER_TEST_POSTGRES_URL is not set: the PostgreSQL pass must run")
        pytest.skip("set CSV_MANAGER_TEST_POSTGRES_URL to run the PostgreSQL pass")
    schema = "test_%s" % uuid.uuid4().hex[:16]
    admin = Store("postgresql", POSTGRES_URL)
    admin.execute("CREATE SCHEMA %s" % schema)
    url = make_url(POSTGRES_URL).update_query_dict({"options": "-csearch_path=%s" % schema})
    url = url.render_as_string(hide_password=False)
    monkeypatch.setenv("CSV_MANAGER_DATABASE_URL", url)
    monkeypatch.setenv("CSV_MANAGER_HISTORY_DATABASE_URL", url)
    yield Store("postgresql", url)
    # A session a test left holding locks in the schema fails the drop after a while instead of hanging the suite.
    admin.execute("DO $$ BEGIN SET LOCAL lock_timeout = '60s'; DROP SCHEMA %s CASCADE; END $$" % schema)


@pytest.fixture
def cli(home):
    """Invoke a command in-process with click's CliRunner: ``cli("csv_watcher_list")`` returns the Result."""
    def invoke(*args):
        app = CsvManagerApp()
        try:
            return CliRunner().invoke(app.cli(), [str(arg) for arg in args])
        finally:
            app.stop()
    return invoke


def _runners(launch):
    started = []

    def start(*args):
        started.append(Running(*args, launch=launch))
        return started[-1]
    yield start
    for process in started:
        process.close()


@pytest.fixture
def running(home):
    """Start csv_watcher_run processes of the installed script: ``running()`` or ``running("--json")``; all are
    killed afterwards."""
    yield from _runners(script)


@pytest.fixture
def forked_running(home):
    """``running``, but each process forked from an interpreter that has imported csv_manager (see forked.py):
    for tests about what runners do, not about how the script starts, it saves 0.3 s of CPU per runner."""
    yield from _runners(ForkedProcess)
