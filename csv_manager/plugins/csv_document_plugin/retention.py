"""The retention settings of the history: HISTORY_KEEP_DAYS and HISTORY_KEEP_VERSIONS (see configuration.py),
checked and turned into what History.prune takes."""
import datetime

from csv_manager.errors import CsvManagerError
from csv_manager.database import utc_now


def retention(config):
    """(keep_versions, keep_since) from the settings; raises CsvManagerError when neither is set or one is not
    a positive number."""
    days = config.get("HISTORY_KEEP_DAYS", None)
    versions = config.get("HISTORY_KEEP_VERSIONS", None)
    if days is None and versions is None:
        raise CsvManagerError("Nothing says what to keep: set HISTORY_KEEP_DAYS or HISTORY_KEEP_VERSIONS (or "
                              "CSV_MANAGER_HISTORY_KEEP_DAYS, CSV_MANAGER_HISTORY_KEEP_VERSIONS).")
    return _versions(versions), None if days is None else utc_now() - datetime.timedelta(days=_days(days))


def _days(setting):
    try:
        days = float(setting)
    except (TypeError, ValueError):
        days = 0
    if not 0 < days < 1e6:
        raise CsvManagerError("HISTORY_KEEP_DAYS (or CSV_MANAGER_HISTORY_KEEP_DAYS) must be a positive number of "
                              "days, not %r." % setting)
    return days


def _versions(setting):
    if setting is None:
        return None
    try:
        versions = int(str(setting))
    except ValueError:
        versions = 0
    if versions < 1:
        raise CsvManagerError("HISTORY_KEEP_VERSIONS (or CSV_MANAGER_HISTORY_KEEP_VERSIONS) must be a whole number "
                              "of versions from 1, not %r." % setting)
    return versions
