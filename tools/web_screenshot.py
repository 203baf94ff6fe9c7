"""Make docs/web-history.png, the README's picture of the web view, from a real page.

    python tools/web_screenshot.py [--out docs/web-history.png] [--chromium /usr/bin/chromium]

In a temporary home: watches a copy of examples/people.csv by its ``id``, lets a real runner record three edits
(an appended row, a changed field, a removed row), starts ``csv_manager server_start waitress``, logs in with the
URL it printed and takes the screenshot of the file's history in Debian's chromium through Playwright.
Needs the package installed (with its test extra, for Playwright).
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(os.path.dirname(sys.executable), "csv_manager")
EDITS = [lambda text: text + "4,Margaret,Boston\n",
         lambda text: text.replace("3,Linus,Helsinki", "3,Linus,Portland"),
         lambda text: text.replace("2,Grace,New York\n", "")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "web-history.png"))
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    options = parser.parse_args()
    home = tempfile.mkdtemp(prefix="web_screenshot.")
    os.environ["CSV_MANAGER_HOME"] = os.path.join(home, "home")
    os.environ["CSV_MANAGER_QUIET_SECONDS"] = "0.2"
    os.environ["CSV_MANAGER_WEB_PORT"] = str(_free_port())
    people = os.path.join(home, "people.csv")
    shutil.copy(os.path.join(ROOT, "examples", "people.csv"), people)
    subprocess.run([SCRIPT, "csv_watcher_add", people, "-i", "1", "--key", "id"], check=True, capture_output=True)
    runner = subprocess.Popen([SCRIPT, "csv_watcher_run"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    server = None
    try:
        _wait_for(runner, "watching")
        for edit in EDITS:
            with open(people) as stream:
                text = stream.read()
            with open(people, "w") as stream:
                stream.write(edit(text))
            _wait_for(runner, people)
        # waitress prints the login URL once it listens.
        server = subprocess.Popen([SCRIPT, "server_start", "waitress"], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        login = server.stdout.readline().rpartition("open ")[2].strip()
        _screenshot(options.chromium, login.replace("/?", "/csv/history?file=%s&" % people), options.out)
    finally:
        if server is not None:
            server.terminate()
            server.wait(30)
        runner.terminate()
        runner.wait(30)
        shutil.rmtree(home, ignore_errors=True)
    print("wrote %s" % options.out)


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_for(runner, text):
    for line in runner.stdout:
        if text in line:
            return
    raise SystemExit("csv_watcher_run ended before printing %r" % text)


def _screenshot(chromium, url, out):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(url)
        page.screenshot(path=out)
        browser.close()


if __name__ == "__main__":
    main()
