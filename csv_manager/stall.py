"""The stall bound: how long a runner, or a database connection, may stay silent before it counts as gone.

One setting, ``RUNNER_STALL_SECONDS`` (``CSV_MANAGER_RUNNER_STALL_SECONDS``), serves both sides of a runner that
stops answering: the other runners take its watchers once it has not shown it is alive for that long (see
runner_locks), and a runner whose database stops answering gives up on the connection within the same time
(see database.end_silent_connections) instead of waiting in a query for TCP's retransmissions, which take
about fifteen minutes to give up.
"""
from csv_manager.settings import whole_seconds

DEFAULT = 10
LIMITS = (3, 3600)


def stall_seconds(config):
    """The RUNNER_STALL_SECONDS of the app's ``config``, whole seconds; CsvManagerError naming the setting if it
    is not a whole number within LIMITS."""
    return whole_seconds(config, "RUNNER_STALL_SECONDS", DEFAULT, LIMITS, "The stall bound")


def keepalives(seconds):
    """TCP keepalive (idle, interval, count) that give up on a silent peer after about ``seconds``, for either
    end of a database connection."""
    interval = max(1, seconds // 5)
    return max(1, seconds - 3 * interval), interval, 3
