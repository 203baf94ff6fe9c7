"""--help, --version and every COMMAND --help have no side effects: no folder, no database, no log line."""
import pytest

from conftest import run

pytestmark = pytest.mark.timeout(60)

COMMANDS = ["csv_watcher_add", "csv_watcher_list", "csv_watcher_delete", "csv_watcher_update", "csv_watcher_run",
            "csv_history"]


HELP_ARGUMENTS = [["--help"], ["--version"], ["-v", "--help"]] + [[command, "--help"] for command in COMMANDS]


@pytest.mark.parametrize("args", HELP_ARGUMENTS, ids=" ".join)
def test_help_and_version_leave_no_trace(tmp_path, monkeypatch, args):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.setenv("CSV_MANAGER_HOME", str(home))
    result = run(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("csv_manager, version" if "--version" in args else "Usage: csv_manager")
    assert not home.exists()
    assert list(cwd.iterdir()) == []
    assert "-v" in args or result.stderr == ""
