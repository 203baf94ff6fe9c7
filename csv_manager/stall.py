"""The stall bound: how long a runner, or a database connection, may stay silent before it counts as gone.

One setting, ``RUNNER_STALL_SECONDS`` (``CSV_MANAGER_RUNNER_STALL_SECONDS``), serves both sides of a runner that
stops answering: the other runners take its watchers once it has not shown it is alive for that long (see
runner_locks.py), and a runner whose database stops answering gives up on the connection within the same time
(see database.end_silent_connections) instead of waiting in a query for TCP's retransmissions, which take
about fifteen minutes to give up.
"""
from csv_manager.errors import CsvManagerError

DEFAULT = 10
LIMITS = (3, 3600)


def stall_seconds(config):
    """The RUNNER_STALL_SECONDS of the app's ``config``, whole seconds; CsvManagerError naming the setting if it
    is not a whole number within LIMITS."""
    setting = config.get("RUNNER_STALL_SECONDS", DEFAULT)
    try:
        seconds = int(str(setting))
    except ValueError:
        seconds = 0
    if not LIMITS[0] <= seconds <= LIMITS[1]:
        raise CsvManagerError("The stall bound (RUNNER_STALL_SECONDS or CSV_MANAGER_RUNNER_STALL_SECONDS) must be a "
                              "whole number of seconds from %d to %d, not %r." % (*LIMITS, setting))
    return seconds


def keepalives(seconds):
    """TCP keepalive (idle, interval, count) that give up on a silent peer after about ``seconds``, for either
    end of a database connection."""
    interval = max(1, seconds // 5)
    return max(1, seconds - 3 * interval), interval, 3
