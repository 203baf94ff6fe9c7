"""Configuration of the csv_manager application, loaded by groundwork's ConfigManager.

Only UPPERCASE names are configuration. Environment variables override the defaults:

- ``CSV_MANAGER_HOME``: the application folder (``APP_PATH``), default ``~/CSV-Manager``.
- ``CSV_MANAGER_DATABASE_URL``: any SQLAlchemy URL for the watcher database, default SQLite in ``APP_PATH``.
- ``CSV_MANAGER_HISTORY_DATABASE_URL``: the same for the history database.
- ``CSV_MANAGER_QUIET_SECONDS``: ``WATCHER_QUIET_SECONDS``.
- ``CSV_MANAGER_NOTIFICATIONS``: ``WATCHER_NOTIFICATIONS``.
- ``CSV_MANAGER_RUNNER_STALL_SECONDS``: ``RUNNER_STALL_SECONDS``.
- ``CSV_MANAGER_HOOK_RETRY_MAX_SECONDS``: ``HOOK_RETRY_MAX_SECONDS``.
- ``CSV_MANAGER_HISTORY_KEEP_DAYS`` and ``CSV_MANAGER_HISTORY_KEEP_VERSIONS``: ``HISTORY_KEEP_DAYS`` and
  ``HISTORY_KEEP_VERSIONS``.
- ``CSV_MANAGER_WEB_HOST``, ``CSV_MANAGER_WEB_PORT`` and ``CSV_MANAGER_WEB_SERVER_NAME``: ``FLASK_HOST``,
  ``FLASK_PORT`` and ``FLASK_SERVER_NAME`` of the web view.
"""
import os

APP_NAME = "csv_manager"
APP_DESCRIPTION = "Watches CSV files for new and missing rows"
APP_PATH = os.path.abspath(os.path.expanduser(os.environ.get("CSV_MANAGER_HOME") or "~/CSV-Manager"))

#: The tutorial's chapter 3 adds the web plugins: GwWeb (server_start, server_list, the page layout),
#: GwWebManager (/webmanager/) and CsvWebPlugin (/csv/history and /admin/admin_csvwatchers/). They are
#: activated for the web commands and --help only, so that no other command imports Flask (see csv_manager_app).
PLUGINS = ["CsvWatcherDbPlugin", "CsvDocumentPlugin", "GwWeb", "GwWebManager", "CsvWebPlugin"]

WATCHER_DATABASE_NAME = "WATCHER_DB"
WATCHER_DATABASE_DESCRIPTION = "DB for CSV file watchers"
WATCHER_DATABASE_LOCATION = "%s/watcher_db.db" % APP_PATH
WATCHER_DATABASE_CONNECTION = os.environ.get("CSV_MANAGER_DATABASE_URL") or "sqlite:///%s" % WATCHER_DATABASE_LOCATION

HISTORY_DATABASE_NAME = "HISTORY_DB"
HISTORY_DATABASE_DESCRIPTION = "DB for the change history of CSV files and their last recorded content"
HISTORY_DATABASE_LOCATION = "%s/history_db.db" % APP_PATH
HISTORY_DATABASE_CONNECTION = (os.environ.get("CSV_MANAGER_HISTORY_DATABASE_URL")
                               or "sqlite:///%s" % HISTORY_DATABASE_LOCATION)

#: What ``csv_history CSV_FILE --prune`` keeps of a file's history: the versions seen in the last
#: HISTORY_KEEP_DAYS days (a number, fractions allowed) and the newest HISTORY_KEEP_VERSIONS versions (a whole
#: number); a version is deleted when a rule that is set does not keep it. Unset (None): keep everything.
HISTORY_KEEP_DAYS = os.environ.get("CSV_MANAGER_HISTORY_KEEP_DAYS") or None
HISTORY_KEEP_VERSIONS = os.environ.get("CSV_MANAGER_HISTORY_KEEP_VERSIONS") or None

#: Seconds between two looks at the watcher table while csv_watcher_run runs.
WATCHER_DATABASE_POLL_SECONDS = 1

#: Seconds a file must stay unchanged before a state that may be a writer's intermediate one (anything but an
#: append of finished rows) is reported; a number from 0 to 3600.
WATCHER_QUIET_SECONDS = os.environ.get("CSV_MANAGER_QUIET_SECONDS") or 2

#: Seconds a runner may show no sign of life (stopped, paused, stuck, cut off) before the other runners take its
#: watchers: it sends a heartbeat every WATCHER_DATABASE_POLL_SECONDS. A number from 3 to 3600. On PostgreSQL
#: 14 and later; with SQLite a runner's watchers go to the others only once it is gone.
RUNNER_STALL_SECONDS = os.environ.get("CSV_MANAGER_RUNNER_STALL_SECONDS") or 10

#: The longest wait, in whole seconds from 1 to 3600, between two tries of a hook's failing delivery: the
#: first retry comes after a second, each next one after twice as long, up to this.
HOOK_RETRY_MAX_SECONDS = os.environ.get("CSV_MANAGER_HOOK_RETRY_MAX_SECONDS") or 30

#: "on": csv_watcher_run looks at a file the moment the kernel notifies a change (Linux inotify), the interval
#: being the safety net; "off": it looks every interval only (stat polling), as on systems without inotify.
WATCHER_NOTIFICATIONS = os.environ.get("CSV_MANAGER_NOTIFICATIONS") or "on"

#: The web view, started with ``csv_manager server_start waitress`` (or ``flask_debug`` while developing). It
#: listens on FLASK_HOST:FLASK_PORT and answers only requests whose Host is FLASK_SERVER_NAME (DNS rebinding);
#: every page needs the token in ``APP_PATH/web_token``. FLASK_DEBUG (Werkzeug's debugger, which runs code) is
#: refused on any address but the loopback.
FLASK_HOST = os.environ.get("CSV_MANAGER_WEB_HOST") or "127.0.0.1"
FLASK_PORT = os.environ.get("CSV_MANAGER_WEB_PORT") or 5000
FLASK_SERVER_NAME = os.environ.get("CSV_MANAGER_WEB_SERVER_NAME") or "%s:%s" % (FLASK_HOST, FLASK_PORT)
FLASK_DEBUG = False
#: GwWeb's sample page at /test.
SHOW_WEB_TEST_PAGE = False
#: groundwork-web calls flask-cors' CORS(app), which by default lets every origin read every page: none may.
FLASK_CORS_ORIGINS = []
#: Seconds between two looks of the web server at the history and watcher databases for the live pages.
WEB_POLL_SECONDS = 0.25

GROUNDWORK_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "console": {"format": "%(levelname)s: %(message)s"},
        "file": {"format": "%(asctime)s - %(process)d - %(levelname)-7s - %(name)s - %(message)s"},
    },
    "handlers": {
        # csv_manager_app lowers this handler's level to INFO for -v/--verbose.
        "console": {"class": "logging.StreamHandler", "formatter": "console", "level": "WARNING",
                    "stream": "ext://sys.stderr"},
        # A rotating file handler that reports a log it cannot write once, in one line (see log_file.py).
        "file": {"class": "csv_manager.log_file.LogFile", "formatter": "file", "level": "DEBUG",
                 "filename": "%s/csv_manager.log" % APP_PATH, "maxBytes": 1024 * 1024, "backupCount": 3,
                 "encoding": "utf-8"},
    },
    "loggers": {
        "": {"handlers": ["console", "file"], "level": "DEBUG"},
        # groundwork logs every registered thread, signal and receiver at DEBUG: thousands of lines per
        # command with many watchers.
        "groundwork": {"level": "INFO"},
        "groundwork_database": {"level": "INFO"},
        "sqlalchemy": {"level": "WARNING"},
    },
}
