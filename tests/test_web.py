"""The web view in-process (Flask's test client): who may see it, what the pages show, and what bad input gets.

Real databases in the test's home; the history is recorded by a real runner (forked_running)."""
import json
import os
import re
import sys
import subprocess

import pytest

from helpers import append
from web_helpers import InProcess

pytestmark = pytest.mark.timeout(120)

HOSTILE = ['<script>document.title="pwned"</script>', '" onmouseover="alert(1)', "javascript:alert(1)"]


@pytest.fixture
def web(home):
    web = InProcess()
    yield web
    web.close()


@pytest.fixture
def recorded(web, csv_file, forked_running):
    """``csv_file`` watched by id with two versions recorded: 1 appends a row whose fields are hostile, 2
    removes Grace and changes Ada's name."""
    assert web.cli("csv_watcher_add", csv_file, "-i", "1", "--key", "id").exit_code == 0
    runner = forked_running()
    runner.expect("watching %s" % csv_file)
    append(csv_file, '3,"%s"\n' % "|".join(HOSTILE).replace('"', '""'))
    runner.expect("has new row")
    csv_file.write_text(csv_file.read_text().replace("1,Ada\n", "1,Ada L\n").replace("2,Grace\n", ""))
    runner.expect_all(["is missing row", "has changed row id=1"])
    assert runner.stop() == 0
    return csv_file


def page(response):
    return response.get_data(as_text=True)


def test_every_page_needs_the_token_and_a_login_sets_a_private_session_cookie(web):
    for path in ("/", "/csv/history", "/csv/events", "/admin/admin_csvwatchers/", "/webmanager/",
                 "/csv/history/download?file=/x&version=1"):
        response = web.get(path)
        assert response.status_code == 403, path
        assert "Log in with the URL" in page(response)
    assert web.get("/?token=" + "x" * 43).status_code == 403
    assert web.get("/csv/static/csv_manager.css").status_code == 200, "the stylesheet holds no data"

    response = web.login()
    assert response.headers["Location"] == "/", "the token leaves the address bar"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("csv_manager_5000=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert web.get("/csv/history").status_code == 200
    assert web.get("/").headers["Location"] == "/csv/history"


def test_a_script_may_send_the_token_in_a_header(web):
    assert web.get("/csv/history", headers={"Authorization": "token " + web.token}).status_code == 200
    assert web.get("/csv/history", headers={"Authorization": "token nope"}).status_code == 403


def test_the_token_is_the_owners_only(web, home):
    token_file = home / "web_token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert token_file.read_text().strip() == web.token


def test_another_host_name_is_refused_even_with_the_token(web):
    web.login()
    for host in ("localhost:5000", "evil.example:5000", "127.0.0.1:5001"):
        response = web.get("/csv/history?token=" + web.token, base_url="http://" + host)
        assert 400 <= response.status_code < 500, host
        assert response.status_code == 403 or "Not Found" in page(response)


def test_a_change_needs_the_session_csrf_token_and_a_same_origin(web, csv_file):
    web.login()
    form = {"csv_file": str(csv_file), "interval": "5"}
    assert web.post("/admin/admin_csvwatchers/new/", form).status_code == 403
    assert web.post("/admin/admin_csvwatchers/new/", dict(form, csrf_token="forged")).status_code == 403
    csrf = web.csrf()
    other_origin = web.post("/admin/admin_csvwatchers/new/", dict(form, csrf_token=csrf),
                            headers={"Origin": "http://evil.example"})
    assert other_origin.status_code == 403
    assert json.loads(web.cli("csv_watcher_list", "--json").stdout) == [], "nothing written for a refused request"

    added = web.post("/admin/admin_csvwatchers/new/", dict(form, csrf_token=csrf),
                     headers={"Origin": "http://127.0.0.1:5000"})
    assert added.status_code == 303
    assert [watcher["csv_file"] for watcher in json.loads(web.cli("csv_watcher_list", "--json").stdout)] == [
        str(csv_file)]


def test_every_response_forbids_inline_scripts_framing_and_other_origins(web):
    web.login()
    response = web.get("/csv/history", headers={"Origin": "http://evil.example"})
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "Access-Control-Allow-Origin" not in response.headers, "groundwork-web's CORS(app) lets no origin in"
    assert "<script>" not in re.sub(r'<script src="[^"]+" defer></script>', "", page(response)), "no inline script"


def test_csv_fields_are_shown_as_text(web, recorded):
    web.login()
    for path in ("/csv/history", "/csv/history?file=%s" % recorded, "/csv/history/version?file=%s&version=1"
                 % recorded):
        html = page(web.get(path))
        assert "&lt;script&gt;document.title=&#34;pwned&#34;&lt;/script&gt;" in html, path
        assert '" onmouseover="alert(1)' not in html and "&#34; onmouseover=&#34;alert(1)" in html, path
        assert 'href="javascript:' not in html, path


def test_the_history_pages_show_the_versions_of_csv_history(web, recorded):
    web.login()
    index = page(web.get("/csv/history"))
    assert "Newest changes" in index and str(recorded) in index and "version 2" in index
    versions = page(web.get("/csv/history", query_string={"file": str(recorded)}))
    assert versions.index("version 2") < versions.index("version 1"), "newest first"
    assert "1 missing, 1 changed" in versions and "1 new" in versions
    assert '<td class="cell-changed"><del>Ada</del> → <ins>Ada L</ins></td>' in versions
    assert '<tr class="missing">' in versions and "Grace" in versions


def test_a_version_downloads_byte_exact(web, recorded):
    web.login()
    for number in (1, 2):
        response = web.get("/csv/history/download", query_string={"file": str(recorded), "version": number})
        assert response.status_code == 200
        shown = subprocess.run([sys.executable, "-c", "from csv_manager.applications import start_app; start_app()",
                                "csv_history", str(recorded), "--show", str(number)], capture_output=True)
        assert response.data == shown.stdout and shown.returncode == 0
        assert response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''data.v%d.csv" % number
    assert web.get("/csv/history/download", query_string={"file": str(recorded), "version": 2}).data == (
        recorded.read_bytes())


def test_two_versions_compare_as_csv_history_diff_does(web, recorded):
    web.login()
    compared = page(web.get("/csv/history/compare", query_string={"file": str(recorded), "from": 1, "to": 2}))
    assert "2 rows differ between version 1 and version 2" in compared, "matched by the watcher's key"
    assert '<td class="cell-changed"><del>Ada</del> → <ins>Ada L</ins></td>' in compared
    assert "Grace" in compared
    same = page(web.get("/csv/history/compare", query_string={"file": str(recorded), "from": 2}))
    assert "No rows differ between version 2 and the newest recorded content" in same


@pytest.mark.parametrize("path, status, message", [
    ("/csv/history/version?file={file}&version=0", 400, "must be at least 1, not 0"),
    ("/csv/history/version?file={file}&version=3", 404, "has no version 3; its versions are 1 to 2"),
    ("/csv/history/version?file={file}&version=two", 400, "must be a whole number, not &#39;two&#39;"),
    ("/csv/history/version?version=1", 400, "The parameter &#39;file&#39; is missing"),
    ("/csv/history/download?file={file}&version=9", 404, "has no version 9"),
    ("/csv/history/compare?file={file}&from=1&to=7", 404, "has no version 7"),
    ("/csv/history?file=/no/such.csv", 404, "No history for /no/such.csv."),
    ("/csv/history?page=5", 404, "There is no page 5: there are 1."),
    ("/csv/history/nope", 404, "Not Found"),
])
def test_bad_input_gets_a_clear_page_not_a_traceback(web, recorded, path, status, message):
    web.login()
    response = web.get(path.format(file=recorded))
    assert response.status_code == status
    assert message in page(response)
    assert "Traceback" not in page(response)


def test_clean_history_prunes_or_purges_only_once_confirmed(web, recorded, monkeypatch):
    web.login()
    confirm = page(web.get("/csv/history/clean", query_string={"file": str(recorded)}))
    assert "Prune the history" in confirm and "Delete the whole history" in confirm
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', confirm).group(1)
    form = {"csrf_token": csrf, "csv_file": str(recorded), "action": "purge"}
    unconfirmed = web.post("/csv/history", form)
    assert unconfirmed.status_code == 400 and "needs the confirmation" in page(unconfirmed)
    assert web.post("/csv/history", dict(form, action="shred", confirmed="yes")).status_code == 400
    no_retention = web.post("/csv/history", dict(form, action="prune", confirmed="yes"))
    assert no_retention.status_code == 400 and "Nothing says what to keep" in page(no_retention)
    assert len(web.cli("csv_history", recorded).stdout.splitlines()) > 2, "nothing written for a refused request"

    web.plugin.app.config.set("HISTORY_KEEP_VERSIONS", 1, overwrite=True)
    pruned = web.post("/csv/history", dict(form, action="prune", confirmed="yes"), follow_redirects=True)
    assert "Pruned 1 versions of %s; the oldest kept is version 2" % recorded in page(pruned)
    assert web.cli("csv_history", recorded).stdout.startswith("version 2 at")

    purged = web.post("/csv/history", dict(form, confirmed="yes"), follow_redirects=True)
    assert "Versions of %s deleted" % recorded in page(purged)
    assert "Nothing recorded for %s yet" % recorded in web.cli("csv_history", recorded).stderr


def test_the_watchers_page_adds_updates_and_deletes_through_the_commands_checks(web, csv_file, tmp_path):
    web.login()
    csrf = web.csrf()

    def add(**form):
        return web.post("/admin/admin_csvwatchers/new/", dict(form, csrf_token=csrf), follow_redirects=True)

    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)

    refused = {
        "data.csv": "absolute path",
        str(tmp_path / "none.csv"): "No such file: %s" % (tmp_path / "none.csv"),
        str(fifo): "is not a regular file",
    }
    for path, message in refused.items():
        response = add(csv_file=path)
        assert response.status_code == 400 and message in page(response), path
    for form, message in (({"key": "nope"}, "&#39;nope&#39; not in the header of"),
                          ({"interval": "0"}, "Invalid interval"),
                          ({"delimiter": "x"}, "Invalid delimiter"),
                          ({"encoding": "rot13"}, "Invalid encoding")):
        response = add(csv_file=str(csv_file), **form)
        assert response.status_code == 400 and message in page(response), form
    assert json.loads(web.cli("csv_watcher_list", "--json").stdout) == []

    added = add(csv_file=str(csv_file), interval="3", key="id")
    assert "Added watcher for %s (every 3 s)" % csv_file in page(added)
    assert "already watched" in page(add(csv_file=str(csv_file)))
    listed = page(web.get("/admin/admin_csvwatchers/"))
    assert "not running" in listed and ">3 s<" in listed and ">id<" in listed

    edit = web.get("/admin/admin_csvwatchers/edit/", query_string={"csv_file": str(csv_file)})
    assert 'value="3"' in page(edit)
    updated = web.post("/admin/admin_csvwatchers/edit/", {"csrf_token": csrf, "csv_file": str(csv_file),
                                                          "interval": "7", "key": "", "delimiter": ",",
                                                          "encoding": "utf-8"}, follow_redirects=True)
    assert "Watcher for %s now checks every 7 s (was 3 s)" % csv_file in page(updated)
    assert "now reads it with delimiter" in page(updated)
    (watcher,) = json.loads(web.cli("csv_watcher_list", "--json").stdout)
    assert (watcher["interval"], watcher["key"]) == (7, [])

    deleted = web.post("/admin/admin_csvwatchers/delete/", {"csrf_token": csrf, "csv_file": str(csv_file)},
                       follow_redirects=True)
    assert "Removed watcher for %s" % csv_file in page(deleted)
    assert json.loads(web.cli("csv_watcher_list", "--json").stdout) == []
    missing = web.post("/admin/admin_csvwatchers/delete/", {"csrf_token": csrf, "csv_file": str(csv_file)})
    assert missing.status_code == 400 and "No watcher for" in page(missing)


def test_a_folder_is_listed_with_its_pattern_as_text(web, tmp_path):
    drop = tmp_path / "drop"
    drop.mkdir()
    assert web.cli("csv_watcher_add", drop, "--pattern", "<i>*.csv").exit_code == 0
    web.login()
    listed = page(web.get("/admin/admin_csvwatchers/"))
    assert "(folder: files matching &lt;i&gt;*.csv)" in listed and "<i>" not in listed


def test_a_version_of_many_rows_is_shown_a_page_at_a_time(web, csv_file, forked_running):
    assert web.cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    runner = forked_running()
    runner.expect("watching")
    append(csv_file, "".join("%d,row %d\n" % (number, number) for number in range(10, 1210)))
    runner.expect("{'id': '1209', 'name': 'row 1209'}")
    assert runner.stop() == 0
    web.login()
    version = {"file": str(csv_file), "version": 1}
    first = page(web.get("/csv/history/version", query_string=version))
    assert first.count('<tr class="new">') == 500 and "Rows 1 to 500 of 1200" in first and "page 1 of 3" in first
    last = page(web.get("/csv/history/version", query_string=dict(version, page=3)))
    assert last.count('<tr class="new">') == 200 and "row 1209" in last and "row 1009" not in last
    assert web.get("/csv/history/version", query_string=dict(version, page=4)).status_code == 404
    listed = page(web.get("/csv/history", query_string={"file": str(csv_file)}))
    assert listed.count('<tr class="new">') == 20 and "all 1200 rows" in listed


def test_a_live_page_asks_for_its_live_part_only(web, recorded):
    web.login()
    full = page(web.get("/csv/history"))
    live = page(web.get("/csv/history", headers={"X-Live": "1"}))
    assert "<html" in full and "<html" not in live and "<nav" not in live
    assert "Newest changes" in live and live.strip() in full.replace("\n", "\n")
    assert 'data-events="/csv/events?seen=0"' in full


def test_debug_mode_is_refused_off_the_loopback(web, monkeypatch):
    config = web.plugin.app.config
    config.set("FLASK_DEBUG", True, overwrite=True)
    config.set("FLASK_HOST", "0.0.0.0", overwrite=True)
    with pytest.raises(Exception, match="FLASK_DEBUG runs Werkzeug's debugger"):
        web.plugin._serve("flask_debug", lambda host, port: pytest.fail("must not start"))


def test_other_commands_do_not_import_flask(home):
    code = ("import sys; from csv_manager.applications import CsvManagerApp; app = CsvManagerApp(); app.stop(); "
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('flask', 'groundwork_web')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_the_live_pages_see_what_any_runner_records(store, web, csv_file, forked_running):
    look = web.plugin.changes._fingerprint  # (web comes after store: it reads the store's settings)
    assert web.cli("csv_watcher_add", csv_file, "-i", "1").exit_code == 0
    runner = forked_running()
    runner.expect("watching")
    before = look()
    append(csv_file, "3,Linus\n")
    runner.expect("has new row")
    assert look() != before
    assert runner.stop() == 0


def test_a_page_beyond_the_open_streams_is_told_to_wait(web, monkeypatch):
    web.login()
    streams = web.plugin._streams
    while streams.acquire(blocking=False):
        pass
    response = web.get("/csv/events")
    assert response.status_code == 503 and "Too many open pages" in page(response)
