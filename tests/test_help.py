"""--help, --version and every COMMAND --help have no side effects: no folder, no database, no log line.

The top-level ones run the installed script, so that an import with side effects would show; each COMMAND --help
then runs forked (see forked.py), as it imports nothing more.
"""
import pytest

from helpers import forked_run, run

pytestmark = pytest.mark.timeout(60)

COMMANDS = ["csv_watcher_add", "csv_watcher_list", "csv_watcher_delete", "csv_watcher_update", "csv_watcher_run",
            "csv_history", "csv_hook_add", "csv_hook_list", "csv_hook_delete"]


HELP_ARGUMENTS = [(["--help"], run), (["--version"], run), (["-v", "--help"], run)] + [
    ([command, "--help"], forked_run) for command in COMMANDS]


@pytest.mark.parametrize("args, launch", HELP_ARGUMENTS, ids=[" ".join(args) for args, _ in HELP_ARGUMENTS])
def test_help_and_version_leave_no_trace(tmp_path, monkeypatch, args, launch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
    result = launch(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("csv_manager, version" if "--version" in args else "Usage: csv_manager")
    assert not home.exists()
    assert list(cwd.iterdir()) == []
    assert "-v" in args or result.stderr == ""
    if args[-1] == "--help" and args[0] in ("--help", "-v"):
        assert all(command in result.stdout for command in COMMANDS)
    elif args[-1] == "--help":
        assert "Usage: csv_manager %s [OPTIONS]" % args[0] in result.stdout
    if args == ["csv_watcher_add", "--help"]:
        assert "--interval" in result.stdout and "CSV_FILE" in result.stdout
