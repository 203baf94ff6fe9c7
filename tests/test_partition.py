"""A runner cut off from PostgreSQL without a reset (its packets dropped, as when its machine loses power or
the network between them fails) loses its watchers to the others within the stall bound, notices it itself, and
writes nothing more of them; once the network is back it rejoins, and every change is reported and recorded once.

The cut-off runner runs in a network namespace of its own and reaches the server through a relay (netcut.py).
"""
import os
import shutil
import subprocess
import time

import pytest
from sqlalchemy.engine import make_url

from helpers import SCRIPT, Running
from netcut import Namespace, Relay
from test_runners import (assert_rejoined_and_each_row_once, make_files, reported, seconds_until_reported, settled,
                          wait_until, watching)

pytestmark = [pytest.mark.timeout(150), pytest.mark.parametrize("store", ["postgresql"], indirect=True)]

STALL_SECONDS = 4


@pytest.fixture
def namespace():
    """A Namespace, or a skip saying why there cannot be one (CI, as root with iproute2, must have one)."""
    reason = None
    if os.geteuid() != 0 or shutil.which("ip") is None:
        reason = "network namespaces need root and iproute2's ip"
    else:
        try:
            made = Namespace()
        except subprocess.CalledProcessError as error:
            reason = "cannot make a network namespace: %s" % error.stderr.strip()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    yield made
    made.close()


@pytest.fixture
def cut_off_runner(store, namespace, monkeypatch):
    """Start the runner to be cut off: in ``namespace``, through a Relay to the test server."""
    url = make_url(os.environ["CSV_MANAGER_DATABASE_URL"])
    relay = Relay(namespace.address, (url.host, url.port), STALL_SECONDS)
    started = []

    def start(*args):
        inner = url.set(host=namespace.address, port=relay.port).render_as_string(hide_password=False)
        with monkeypatch.context() as patch:
            patch.setenv("CSV_MANAGER_DATABASE_URL", inner)
            patch.setenv("CSV_MANAGER_HISTORY_DATABASE_URL", inner)
            started.append(Running(*args, launch=lambda *command: subprocess.Popen(
                namespace.command(SCRIPT, *command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
        return started[-1]
    yield start
    for runner in started:
        runner.close()
    relay.close()


def test_a_runner_cut_off_without_a_reset_loses_its_watchers_and_stops_writing(
        cli, store, namespace, cut_off_runner, forked_running, tmp_path, monkeypatch):
    monkeypatch.setenv("CSV_MANAGER_RUNNER_STALL_SECONDS", str(STALL_SECONDS))
    files = make_files(cli, tmp_path, 10)
    cut_off, other = cut_off_runner("--json"), forked_running("--json")
    runners = [cut_off, other]
    wait_until(settled(runners, 10), 30, "10 watchers shared by 2 runners")
    wait_until(watching(runners, files), 30, "the first read of every file recorded")

    namespace.cut()
    cut_at = time.monotonic()
    printed_before_cut = len(reported([cut_off]))
    written = []
    took = seconds_until_reported(other, files, "cut", written, started=cut_at)
    assert took < 15, "the cut-off runner's rows took %.1f s" % took
    noticed = wait_until(lambda: any(line.startswith("Stopped") for line in cut_off.lines("stderr")), 30,
                         "the cut-off runner saying it stopped its watchers", started=cut_at)
    assert noticed < 15, "the cut-off runner noticed after %.1f s" % noticed
    assert len(reported([cut_off])) == printed_before_cut

    namespace.heal()
    assert_rejoined_and_each_row_once(cli, runners, files, written, timeout=60)
