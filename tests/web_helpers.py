"""What the web tests share: the app's Flask test client logged in or not, and a real server process."""
import queue
import re
import socket
import threading
import time

import pytest
from click.testing import CliRunner

from helpers import script
from csv_manager.applications import CsvManagerApp

SERVER_NAME = "127.0.0.1:5000"
BASE = "http://" + SERVER_NAME


class InProcess:
    """The web view in this process (the plugins of ``csv_manager server_start``), through Flask's test client:
    ``get``, ``post``, ``login`` and ``cli`` (a command in the same app)."""

    def __init__(self):
        self.app = CsvManagerApp(web=True)
        self.plugin = self.app.app.plugins.get("CsvWebPlugin")
        self.flask = self.plugin.web.flask
        self.client = self.flask.test_client()

    @property
    def token(self):
        return self.plugin.guard.token

    def login(self):
        response = self.get("/?token=" + self.token)
        assert response.status_code == 303, response.data
        return response

    def get(self, path, **kwargs):
        return self.client.get(path, base_url=kwargs.pop("base_url", BASE), **kwargs)

    def post(self, path, data=None, **kwargs):
        return self.client.post(path, data=data or {}, base_url=kwargs.pop("base_url", BASE), **kwargs)

    def csrf(self, path="/admin/admin_csvwatchers/"):
        """The CSRF token of the session, as a page's forms carry it."""
        page = self.get(path).get_data(as_text=True)
        return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)

    def cli(self, *args):
        """A csv_manager command in a fresh app (as another process would run it)."""
        app = CsvManagerApp()
        try:
            return CliRunner().invoke(app.cli(), [str(arg) for arg in args])
        finally:
            app.stop()

    def close(self):
        self.app.stop()


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``csv_manager server_start SERVER`` on ``port``: ``url`` is the login URL it printed."""

    def __init__(self, port, server="waitress", timeout=30):
        self.port = port
        self.process = script("server_start", server)
        self.lines = queue.Queue()
        self.stderr = []
        self._pumps = [threading.Thread(target=self._pump, daemon=True),
                       threading.Thread(target=lambda: self.stderr.extend(self.process.stderr), daemon=True)]
        for pump in self._pumps:
            pump.start()
        deadline = time.monotonic() + timeout
        self.url = None
        while self.url is None:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail("server_start printed no login URL within %s s: %s" % (timeout, "".join(self.stderr)))
            if line is None:
                pytest.fail("server_start ended: %s" % "".join(self.stderr))
            found = re.search(r"open (http://\S+)", line)
            self.url = found and found.group(1)
        self.base = "http://127.0.0.1:%d" % port
        _wait_until_listening(port, deadline)

    def _pump(self):
        for line in self.process.stdout:
            self.lines.put(line)
        self.lines.put(None)

    @property
    def token(self):
        return self.url.rpartition("token=")[2]

    def stop(self):
        """SIGTERM, then the output read to its end."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except Exception:
                self.process.kill()
                self.process.wait()
        for pump in self._pumps:
            pump.join(5)
        self.process.stdout.close()
        self.process.stderr.close()


def _wait_until_listening(port, deadline):
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
