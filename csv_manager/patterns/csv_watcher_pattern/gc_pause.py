"""Python's cyclic garbage collector paused while a check builds the rows it reports.

A check that reports many rows (10 % of a 500,000-row file edited) allocates hundreds of thousands of lists and
dicts that live on; none of them is in a reference cycle, but each burst of allocations starts collections that
traverse them all again, and that was about 40 % of such a check (benchmarks/bench_shapes.py: the diff took
0.94 to 1.33 s with the collector running, 0.54 to 0.67 s paused). Reference counting still frees everything as
usual; only the search for cycles waits until the check is over.

The collector is one per process and the watchers' threads check at the same time, so the pause is counted: it
ends when the last check that asked for it is over, and a collector that was off before stays off.
"""
import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0
_was_enabled = False


class gc_paused(contextlib.ContextDecorator):
    """Context manager and decorator: no cyclic garbage collection inside (see the module's docstring)."""

    def __enter__(self):
        global _depth, _was_enabled
        with _lock:
            if _depth == 0:
                _was_enabled = gc.isenabled()
                gc.disable()
            _depth += 1
        return self

    def __exit__(self, *exc_info):
        global _depth
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
        return False
