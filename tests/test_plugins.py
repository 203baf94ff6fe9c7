"""The tutorial's split: CsvWatcherDbPlugin watches, CsvDocumentPlugin records, and they meet only through
signals, so the watcher plugin also works alone."""
import ast
import json
import pathlib

import pytest
from click.testing import CliRunner

import csv_manager
from csv_manager.applications import CsvManagerApp

pytestmark = pytest.mark.timeout(60)

PACKAGE = pathlib.Path(csv_manager.__file__).parent


def imported_modules(path):
    """The modules a Python file imports (``from a.b import c`` counts as ``a.b`` and ``a.b.c``)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module
            yield from ("%s.%s" % (node.module, alias.name) for alias in node.names)


def test_the_watcher_plugin_imports_nothing_of_the_history():
    modules = {path.relative_to(PACKAGE).as_posix(): set(imported_modules(path))
               for path in (PACKAGE / "plugins" / "csv_watcher_db_plugin").rglob("*.py")}
    assert "csv_watcher_db_plugin.py" in {pathlib.PurePath(name).name for name in modules}
    history = {name: sorted(module for module in imported if "csv_document_plugin" in module or "History" in module)
               for name, imported in modules.items()}
    assert {name: found for name, found in history.items() if found} == {}


def test_the_history_is_a_plugin_of_its_own_that_receives_the_watchers_signals(home):
    app = CsvManagerApp()
    try:
        assert app.plugins == ["CsvWatcherDbPlugin", "CsvDocumentPlugin"]
        receivers = {}
        for receiver in app.app.signals.get_receiver().values():
            receivers.setdefault(receiver.signal, set()).add(receiver.plugin.name)
        for signal in ("csv_watcher_baseline", "csv_watcher_change", "csv_watcher_state", "csv_watcher_recorder",
                       "csv_watcher_deleted"):
            assert receivers[signal] == {"CsvDocumentPlugin"}, signal
        assert app.app.commands.get("csv_history").plugin.name == "CsvDocumentPlugin"
        assert {name for name, command in app.app.commands.get().items()
                if command.plugin.name == "CsvWatcherDbPlugin"} == {
            "csv_watcher_add", "csv_watcher_delete", "csv_watcher_list", "csv_watcher_run", "csv_watcher_update",
            "csv_hook_add", "csv_hook_list", "csv_hook_delete"}
        document = app.app.plugins.get("CsvDocumentPlugin")
        assert document.db is None, "the history database is opened only by the commands that need it"
    finally:
        app.stop()


def test_the_models_are_the_tutorials_get_models_on_the_history_database(home):
    from csv_manager.plugins.csv_document_plugin.models import get_models

    app = CsvManagerApp()
    try:
        document = app.app.plugins.get("CsvDocumentPlugin")
        history = document.setup_db()
        assert [model.__tablename__ for model in history.models] == [
            "csv_history_files", "csv_history_versions", "csv_history_rows", "csv_watcher_status",
            "csv_history_snapshots"]
        assert callable(get_models) and history.db is document.db
    finally:
        app.stop()


def test_the_watcher_plugin_works_alone_and_says_what_needs_the_history(home, csv_file):
    app = CsvManagerApp()
    app.app.plugins.deactivate(["CsvDocumentPlugin"])
    app.plugins = ["CsvWatcherDbPlugin"]
    try:
        cli = app.cli()
        assert "csv_history" not in cli.commands
        runner = CliRunner()
        assert runner.invoke(cli, ["csv_watcher_add", str(csv_file), "-i", "2"]).exit_code == 0
        listed = runner.invoke(cli, ["csv_watcher_list", "--json"])
        assert listed.exit_code == 0
        assert [(watcher["csv_file"], watcher["state"]) for watcher in json.loads(listed.stdout)] == [
            (str(csv_file), "not running")]
        run = runner.invoke(cli, ["csv_watcher_run"])
        assert run.exit_code == 1
        assert run.stderr.strip() == ("Error: csv_watcher_run needs a plugin that records what it reports: add "
                                      "CsvDocumentPlugin to PLUGINS.")
        deleted = runner.invoke(cli, ["csv_watcher_delete", str(csv_file), "--purge"])
        assert (deleted.exit_code, deleted.stdout) == (0, "Removed watcher for %s\n" % csv_file)
        assert "No history to delete: no plugin records one" in deleted.stderr
        assert not (home / "history_db.db").exists()
    finally:
        app.stop()
