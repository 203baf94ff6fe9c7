"""The web view in a real browser: Debian's chromium driven by Playwright, against ``csv_manager server_start
waitress`` and a real runner, as the owner uses it (the login URL the server printed) and as others may try."""
import os
import shutil

import pytest

from helpers import append, forked_run
from web_helpers import Server, free_port

CHROMIUM = shutil.which("chromium")
#: What .ci/run sets: there, a missing browser is a failure, not a reason to skip.
REQUIRED = bool(os.environ.get("CSV_MANAGER_REQUIRE_BROWSER"))
#: Chromium as the machine's probe starts it: headless, as root without its sandbox, and without the background
#: services that try to reach the network (refused here, many at a time).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# One browser at a time (tox runs pytest with --dist loadgroup): four chromiums on two cores starve the runner
# tests' takeover bounds.
pytestmark = [pytest.mark.timeout(120), pytest.mark.xdist_group("browser"),
              pytest.mark.skipif(CHROMIUM is None and not REQUIRED,
                                 reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM or "/usr/bin/chromium", args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def port(home, monkeypatch):
    port = free_port()
    monkeypatch.setenv("CSV_MANAGER_WEB_PORT", str(port))
    return port


@pytest.fixture
def served(port):
    server = Server(port)
    yield server
    server.stop()


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    # A bound on a hang, not a speed target: four workers share two cores with their browsers and runners
    # (benchmarks/bench_web.py measures how soon a change shows).
    page.set_default_timeout(20000)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    yield page
    context.close()


@pytest.fixture
def watched(csv_file, forked_running, port):
    assert forked_run("csv_watcher_add", csv_file, "-i", "1", "--key", "id").returncode == 0
    runner = forked_running()
    runner.expect("watching %s" % csv_file)
    return runner


def wait_live(page):
    page.wait_for_selector("#live[data-connected=yes]", state="attached")


def test_the_owner_logs_in_sees_watchers_and_history_and_a_change_appears_live(page, served, csv_file, watched):
    page.goto(served.url)
    assert page.url == served.base + "/csv/history", "logged in, and the token left the address bar"
    assert page.locator("h1").inner_text().startswith("CSV History")

    page.hover("nav li.dropdown > a:text-is('CSV')")
    page.click("nav a:text-is('Watchers')")
    assert page.url == served.base + "/admin/admin_csvwatchers/"
    row = page.locator("tr", has_text=str(csv_file))
    assert row.locator("td.state").inner_text() == "watching"
    assert ":%d" % watched.process.pid in row.inner_text(), "the runner that owns it"

    page.goto(served.base + "/csv/history")
    wait_live(page)
    append(csv_file, "3,Linus\n")
    watched.expect("has new row: {'id': '3', 'name': 'Linus'}")
    fresh = page.locator("article.version.fresh", has_text="Linus")
    fresh.wait_for()
    assert fresh.locator("tr.new").inner_text().split() == ["+", "3", "Linus"]
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1, "no reload"
    append(csv_file, "4,Barbara\n")
    watched.expect("has new row: {'id': '4', 'name': 'Barbara'}")
    page.locator("article.version.fresh", has_text="Barbara").wait_for()
    assert fresh.count() == 1, "still marked after the page's next refresh"

    page.goto(served.base + "/csv/history?file=" + str(csv_file))
    wait_live(page)
    csv_file.write_text("id,name\n1,Ada L\n3,Linus\n")
    watched.expect("has changed row id=1")
    changed = page.locator("article.version.fresh td.cell-changed")
    changed.wait_for()
    assert changed.inner_text() == "Ada → Ada L"


def test_a_restarted_server_catches_the_open_page_up(page, port, csv_file, watched):
    server = Server(port)
    page.goto(server.url)
    wait_live(page)
    server.stop()
    page.wait_for_selector("#live[data-connected=no]", state="attached")
    append(csv_file, "4,Barbara\n")
    watched.expect("has new row: {'id': '4', 'name': 'Barbara'}")
    server = Server(port)
    try:
        page.locator("article.version.fresh", has_text="Barbara").wait_for()
    finally:
        server.stop()


def test_a_version_downloads_byte_exact(page, served, csv_file, watched):
    append(csv_file, "3,Linus\n")
    watched.expect("has new row")
    page.goto(served.url)
    with page.expect_download() as download:
        page.click("article.version a:text-is('download')")
    shown = forked_run("csv_history", csv_file, "--show", "1")
    assert download.value.suggested_filename == "data.v1.csv"
    with open(download.value.path(), "rb") as stream:
        assert stream.read().decode() == shown.stdout == csv_file.read_text()


def test_a_field_holding_markup_shows_as_text_and_runs_nothing(page, served, csv_file, watched):
    fields = ['<script>document.title="pwned"</script>', '<img src=x onerror="document.title=\'pwned\'">',
              "javascript:alert(1)"]
    append(csv_file, "".join('%d,"%s"\n' % (number, field.replace('"', '""'))
                             for number, field in enumerate(fields, 3)))
    watched.expect("{'id': '5'")
    page.goto(served.url)
    cells = page.locator("article.version tr.new td:nth-child(3)").all_inner_texts()
    assert cells == fields
    assert page.title() == "CSV History" and page.dialogs == []
    assert page.locator("main img").count() == 0 and page.locator("main script").count() == 0


def test_others_get_nothing(browser, served):
    stranger = browser.new_context()
    try:
        response = stranger.new_page().goto(served.base + "/csv/history")
        assert response.status == 403
        rebound = stranger.new_page().goto("http://localhost:%d/?token=%s" % (served.port, served.token))
        assert rebound.status == 403, "another Host name (DNS rebinding) is refused, even with the token"
    finally:
        stranger.close()

    owner = browser.new_context()
    try:
        owner.new_page().goto(served.url)
        forged = owner.request.post(served.base + "/admin/admin_csvwatchers/new/",
                                    form={"csv_file": "/etc/passwd", "interval": "1"})
        assert forged.status == 403, "a change without the page's CSRF token"
    finally:
        owner.close()
