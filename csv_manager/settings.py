"""Reading the settings that are checked before use, refusing anything else with a message naming the setting
and its environment variable."""
from csv_manager.errors import CsvManagerError

#: The longest quiet period WATCHER_QUIET_SECONDS may ask for: an hour.
MAX_QUIET_SECONDS = 3600


def whole_seconds(config, name, default, limits, what):
    """The setting ``name`` of the app's ``config`` (``default`` when unset), whole seconds within ``limits``;
    CsvManagerError naming ``what`` it is, the setting and its environment variable otherwise."""
    setting = config.get(name, default)
    try:
        seconds = int(str(setting))
    except ValueError:
        seconds = 0
    if not limits[0] <= seconds <= limits[1]:
        raise CsvManagerError("%s (%s or CSV_MANAGER_%s) must be a whole number of seconds from %d to %d, not %r."
                              % (what, name, name, *limits, setting))
    return seconds


def quiet_seconds(config, default):
    """The WATCHER_QUIET_SECONDS setting (from CSV_MANAGER_QUIET_SECONDS when set) as a float; ``default`` when
    unset."""
    setting = config.get("WATCHER_QUIET_SECONDS", default)
    try:
        seconds = float(setting)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_QUIET_SECONDS:
        raise CsvManagerError("The quiet period (WATCHER_QUIET_SECONDS or CSV_MANAGER_QUIET_SECONDS) must be "
                              "a number of seconds from 0 to %d, not %r." % (MAX_QUIET_SECONDS, setting))
    return seconds


def notifications(config):
    """The WATCHER_NOTIFICATIONS setting (from CSV_MANAGER_NOTIFICATIONS when set): True for "on"."""
    setting = str(config.get("WATCHER_NOTIFICATIONS", "on"))
    if setting.lower() not in ("on", "off"):
        raise CsvManagerError("Notifications (WATCHER_NOTIFICATIONS or CSV_MANAGER_NOTIFICATIONS) must be "
                              "'on' or 'off', not %r." % setting)
    return setting.lower() == "on"
