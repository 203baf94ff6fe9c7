"""Reading the settings that are a whole number of seconds, refusing anything else with a message naming them."""
from csv_manager.errors import CsvManagerError


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
