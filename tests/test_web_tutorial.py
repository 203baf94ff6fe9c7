"""The groundwork tutorial's chapter 3, "groundwork and the web", step by step on the installed app: the web
plugins and FLASK_* settings, ``csv_manager server_start flask_debug``, the watchers' view where Flask-Admin
put it, ``/csv/history`` with its "Clean history" button, and the menu "CSV"."""
import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from helpers import append, forked_run, run
from csv_manager.applications import CsvManagerApp
from web_helpers import Server, free_port

pytestmark = pytest.mark.timeout(120)


def test_the_configuration_names_the_web_plugins_and_flask_settings(home):
    app = CsvManagerApp(web=True)
    try:
        config = app.app.config
        assert {"GwWeb", "GwWebManager"} <= set(config.get("PLUGINS"))
        assert (config.get("FLASK_SERVER_NAME"), config.get("FLASK_HOST"), config.get("FLASK_PORT"),
                config.get("FLASK_DEBUG")) == ("127.0.0.1:5000", "127.0.0.1", 5000, False)
        assert set(app.plugins) >= {"GwWeb", "GwWebManager", "CsvWebPlugin"}
    finally:
        app.stop()


def test_host_and_port_come_from_the_environment(home, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_WEB_HOST", "127.0.0.2")
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", "8123")
    app = CsvManagerApp(web=True)
    try:
        assert app.app.config.get("FLASK_SERVER_NAME") == "127.0.0.2:8123"
    finally:
        app.stop()


def test_server_list_names_both_servers(home):
    listed = run("server_list")
    assert listed.returncode == 0 and "flask_debug" in listed.stdout and "waitress" in listed.stdout


@pytest.mark.parametrize("port, message", [("0", "must be a number from 1 to 65535, not '0'"),
                                           ("http", "must be a number from 1 to 65535, not 'http'")])
def test_a_bad_port_is_refused_clearly(home, monkeypatch, port, message):
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", port)
    started = forked_run("server_start", "waitress")
    assert started.returncode == 1 and message in started.stderr and "Traceback" not in started.stderr


def test_a_port_in_use_is_refused_clearly(home, monkeypatch):
    port = free_port()
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", str(port))
    server = Server(port)
    try:
        second = forked_run("server_start", "waitress")
        assert second.returncode == 1 and "Cannot listen on 127.0.0.1:%d" % port in second.stderr
    finally:
        server.stop()


def test_chapter_3_step_by_step(home, monkeypatch, csv_file, forked_running):
    # The tutorial's db_viewer and own_view steps need a watcher and a history to show.
    assert forked_run("csv_watcher_add", csv_file, "-i", "1").returncode == 0
    runner = forked_running()
    runner.expect("watching")
    append(csv_file, "3,Linus\n")
    runner.expect("has new row")
    assert runner.stop() == 0

    port = free_port()
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", str(port))
    server = Server(port, "flask_debug")
    try:
        assert server.url == "http://127.0.0.1:%d/?token=%s" % (port, (home / "web_token").read_text().strip())
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        history = browser.open(server.url).read().decode()
        assert "<h1>CSV History <small>View and edit history</small></h1>" in history
        menu = re.search(r'<li class="dropdown"><a href="#">CSV</a>(.*?)</ul>', history, re.S).group(1)
        assert re.findall(r'<a href="([^"]+)">(\w+)</a>', menu) == [("/csv/history", "History"),
                                                                    ("/admin/admin_csvwatchers/", "Watchers")]
        watchers = browser.open(server.base + "/admin/admin_csvwatchers/").read().decode()
        assert str(csv_file) in watchers and "not running" in watchers
        assert "Commands" in browser.open(server.base + "/webmanager/command").read().decode()

        clean = browser.open(server.base + "/csv/history/clean?" + urllib.parse.urlencode({"file": csv_file}))
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', clean.read().decode()).group(1)
        form = urllib.parse.urlencode({"csrf_token": csrf, "csv_file": csv_file, "action": "purge",
                                       "confirmed": "yes"}).encode()
        cleaned = browser.open(server.base + "/csv/history", data=form).read().decode()
        assert "Versions of %s deleted" % csv_file in cleaned
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(server.base + "/csv/history")
        assert refused.value.code == 403
    finally:
        server.stop()
    assert "Flask's development server" in "".join(server.stderr)
