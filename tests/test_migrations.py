"""Schema changes go through Alembic: a database made by the previous release is upgraded on first use and keeps
everything it recorded."""
import json
import shutil
import subprocess
import sys
import sqlite3
from pathlib import Path

import pytest

from helpers import forked_run
from forked import ForkedProcess

pytestmark = pytest.mark.timeout(120)

DATA = Path(__file__).parent / "data"
#: Made by release 0.1.0 (before migrations): people.csv watched while it went through the two versions below.
RELEASE_0_1_0 = DATA / "release-0.1.0"
RECORDED_PATH = "/tmp/oldgen/people.csv"
RECORDED_CONTENT = "id,name\n1,Ada\n3,Linus\n4,Guido\n"
#: Made by release 0.2.0 (history revision 0003), the one before runner leases: people.csv watched by key id by
#: a csv_watcher_run while 3,Linus was appended, then 4,Guido added and Grace renamed Grace Hopper.
RELEASE_0_2_0 = DATA / "release-0.2.0"
RECORDED_CONTENT_0_2_0 = "id,name\n1,Ada\n2,Grace Hopper\n3,Linus\n4,Guido\n"


def home_from(release, home, csv_file):
    """Fill ``home`` with the databases ``release`` made, their watched file moved to ``csv_file``."""
    home.mkdir()
    for name in ("watcher_db.db", "history_db.db"):
        shutil.copy(release / name, home / name)
        with sqlite3.connect(home / name) as connection:
            for (table,) in connection.execute("SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c "
                                               "WHERE m.type = 'table' AND c.name = 'csv_file'").fetchall():
                connection.execute("UPDATE %s SET csv_file = ? WHERE csv_file = ?" % table,
                                   (str(csv_file), RECORDED_PATH))
        connection.close()
    return csv_file


@pytest.fixture
def old_home(home, tmp_path):
    """``home`` holding release 0.1.0's databases, their watched file moved to ``tmp_path / "people.csv"``."""
    return home_from(RELEASE_0_1_0, home, tmp_path / "people.csv")


@pytest.fixture
def home_0_2_0(home, tmp_path):
    """``home`` holding release 0.2.0's databases, their watched file moved to ``tmp_path / "people.csv"``."""
    return home_from(RELEASE_0_2_0, home, tmp_path / "people.csv")


def revision(home, database="history_db.db", table="alembic_version"):
    connection = sqlite3.connect(home / database)
    try:
        return connection.execute("SELECT version_num FROM %s" % table).fetchall()
    finally:
        connection.close()


def watcher_revision(home):
    return revision(home, "watcher_db.db", "csv_watchers_version")


def test_the_history_of_release_0_1_0_is_upgraded_and_still_shown(old_home, home):
    history = forked_run("csv_history", old_home)
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[1:] == [
        "%s has new row: {'id': '4', 'name': 'Guido'}" % old_home,
        "%s is missing row: {'id': '2', 'name': 'Grace'}" % old_home,
        "version 1 at 2026-11-27T22:21:47Z: 3 rows",
        "%s has new row: {'id': '3', 'name': 'Linus'}" % old_home]
    assert revision(home) == [("0005",)]


def test_the_recorded_content_of_release_0_1_0_is_restored_after_the_upgrade(old_home, home, forked_running):
    old_home.write_text(RECORDED_CONTENT + "5,Grace\n")
    watcher = forked_running()
    lines = watcher.expect("has new row")
    assert lines[-1] == "%s has new row: {'id': '5', 'name': 'Grace'}" % old_home
    assert watcher.stop() == 0
    assert [line for line in watcher.seen["stdout"] if "row:" in line] == lines[-1:]
    assert revision(home) == [("0005",)]


def test_a_fresh_database_is_made_at_the_newest_revision(cli, home, csv_file):
    assert cli("csv_watcher_add", csv_file).exit_code == 0
    assert cli("csv_watcher_list", "--json").exit_code == 0
    assert (revision(home), watcher_revision(home)) == ([("0005",)], [("0004",)])


def test_the_history_of_release_0_2_0_is_upgraded_and_still_shown(home_0_2_0, home):
    history = forked_run("csv_history", home_0_2_0)
    assert history.returncode == 0, history.stderr
    assert history.stdout.splitlines()[1:] == [
        "%s has new row: {'id': '4', 'name': 'Guido'}" % home_0_2_0,
        "%s has changed row id=2: name 'Grace' -> 'Grace Hopper'" % home_0_2_0,
        "version 1 at 2026-12-04T16:40:29Z: 3 rows",
        "%s has new row: {'id': '3', 'name': 'Linus'}" % home_0_2_0]
    assert revision(home) == [("0005",)]
    # Revision 0005 copied the versions into an AUTOINCREMENT table: its sequence starts at their highest id.
    connection = sqlite3.connect(home / "history_db.db")
    try:
        assert connection.execute("SELECT seq FROM sqlite_sequence WHERE name = 'csv_history_versions'").fetchall() \
            == connection.execute("SELECT max(id) FROM csv_history_versions").fetchall()
    finally:
        connection.close()


def test_a_runner_claims_and_resumes_the_watcher_of_release_0_2_0_after_the_upgrade(home_0_2_0, home, forked_running):
    home_0_2_0.write_text(RECORDED_CONTENT_0_2_0 + "5,Barbara\n")
    watcher = forked_running()
    watcher.expect("Took 1 watcher", stream="stderr")
    lines = watcher.expect("has new row")
    assert lines[-1] == "%s has new row: {'id': '5', 'name': 'Barbara'}" % home_0_2_0
    assert watcher.stop() == 0
    assert [line for line in watcher.seen["stdout"] if "row:" in line] == lines[-1:]
    assert revision(home) == [("0005",)]


def test_the_watchers_of_release_0_2_0_become_file_watchers_and_a_folder_and_a_hook_can_be_added_beside_them(
        home_0_2_0, home, cli, tmp_path):
    """Release 0.2.0's watcher table (revision 0002, as 0.3.0 left it) gains the folder pattern (0003) and the
    hook tables (0004)."""
    (watcher,) = json.loads(forked_run("csv_watcher_list", "--json").stdout)
    assert (watcher["csv_file"], watcher["key"], watcher["pattern"], watcher["files"]) == (
        str(home_0_2_0), ["id"], None, None)
    assert watcher_revision(home) == [("0004",)]
    drop = tmp_path / "drop"
    drop.mkdir()
    assert cli("csv_watcher_add", drop).exit_code == 0
    assert [watcher["pattern"] for watcher in json.loads(forked_run("csv_watcher_list", "--json").stdout)] == [
        None, "*.csv"]
    assert cli("csv_hook_add", "log", "--exec", "cat", "--file", home_0_2_0).exit_code == 0
    assert [hook["files"] for hook in json.loads(forked_run("csv_hook_list", "--json").stdout)] == [
        [str(home_0_2_0)]]


@pytest.mark.parametrize("name", ["HISTORY", "WATCHERS"])
def test_the_head_revision_named_in_the_package_is_alembics_head(name):
    from alembic.script import ScriptDirectory
    from csv_manager.plugins.csv_document_plugin.migrations import HISTORY
    from csv_manager.plugins.csv_watcher_db_plugin.migrations import WATCHERS

    migration = {"HISTORY": HISTORY, "WATCHERS": WATCHERS}[name]
    assert ScriptDirectory(migration.script_location).get_current_head() == migration.head


def test_the_watchers_of_release_0_1_0_are_upgraded_in_place_and_kept(old_home, home):
    listed = forked_run("csv_watcher_list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(watcher["csv_file"], watcher["interval"], watcher["key"], watcher["delimiter"], watcher["encoding"])
            for watcher in json.loads(listed.stdout)] == [(str(old_home), 1, [], ",", "utf-8")]
    assert watcher_revision(home) == [("0004",)]


def test_two_processes_upgrading_release_0_1_0_at_once_both_succeed_and_upgrade_once(old_home, home):
    commands = [["csv_watcher_list", "--json"], ["csv_history", old_home, "--json"]] * 2
    processes = [ForkedProcess(*command) for command in commands]
    results = [process.communicate(timeout=60) + (process.returncode,) for process in processes]
    assert [code for _, _, code in results] == [0, 0, 0, 0], [stderr for _, stderr, _ in results]
    assert results[0][0] == results[2][0] and results[1][0] == results[3][0]
    assert (watcher_revision(home), revision(home)) == ([("0004",)], [("0005",)])


@pytest.mark.parametrize("store", ["postgresql"], indirect=True)
def test_the_watcher_table_of_release_0_1_0_is_upgraded_on_postgresql_too(store, csv_file):
    """The table as release 0.1.0's create_all made it (tests/data holds the SQLite files it made, tested above)."""
    store.execute('CREATE TABLE csv_watchers (id SERIAL PRIMARY KEY, csv_file VARCHAR(2048) NOT NULL UNIQUE, '
                  '"interval" INTEGER NOT NULL)')
    store.execute('INSERT INTO csv_watchers (csv_file, "interval") VALUES (:path, 7)', {"path": str(csv_file)})
    listed = forked_run("csv_watcher_list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [(watcher["csv_file"], watcher["interval"], watcher["key"]) for watcher in json.loads(listed.stdout)] == [
        (str(csv_file), 7, [])]
    assert store.execute("SELECT version_num FROM csv_watchers_version") == [("0004",)]


def test_a_database_at_the_newest_revision_is_opened_without_importing_alembic(cli, csv_file):
    assert cli("csv_watcher_add", csv_file).exit_code == 0
    assert cli("csv_watcher_list", "--json").exit_code == 0  # the history database made: now at the head
    probe = "\n".join([
        "import sys",
        "from csv_manager.applications.csv_manager_app import start_app",
        "sys.argv = ['csv_manager', 'csv_watcher_list', '--json']",
        "try:",
        "    start_app()",
        "except SystemExit as end:",
        "    assert end.code == 0, end.code",
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'alembic'))"])
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[0])[0]["csv_file"] == str(csv_file)
    assert result.stdout.splitlines()[-1] == "[]"
