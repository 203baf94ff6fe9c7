"""The garbage collector is paused while a check builds its rows, and only then: the pause is counted across the
watchers' threads, survives an error, and leaves a collector that was off before as it was."""
import gc
import threading

import pytest

from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.dialect import check_dialect
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.patterns.csv_watcher_pattern.gc_pause import gc_paused

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(autouse=True)
def collector_on():
    """Each test starts with the collector on, and leaves it on."""
    gc.enable()
    yield
    gc.enable()


def test_the_collector_is_off_inside_and_on_again_after():
    with gc_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_pause_ends_when_the_last_thread_leaves_it():
    entered, first_left, done = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def second():
        with gc_paused():
            entered.set()
            assert first_left.wait(10)
            seen["after the first left"] = gc.isenabled()
        done.set()

    with gc_paused():
        thread = threading.Thread(target=second)
        thread.start()
        assert entered.wait(10)
    first_left.set()
    assert done.wait(10)
    thread.join(10)
    assert seen == {"after the first left": False}
    assert gc.isenabled()


def test_a_collector_that_was_off_stays_off():
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_a_diff_that_fails_turns_the_collector_on_again():
    old = read("id\n1\n".encode("cp1252"), check_dialect(",", "utf-8"))
    with pytest.raises(UnicodeDecodeError):
        diff(old, b"id\n1\n\xff\xfe\n")
    assert gc.isenabled()
