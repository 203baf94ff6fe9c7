"""The csv_manager application: a groundwork App built from configuration.py, its plugins and its CLI."""
import logging
import os
import stat
import sys

import click
from groundwork import App
from groundwork.configuration.configmanager import ConfigManager
from groundwork.exceptions import PluginNotActivatableException

import csv_manager
from csv_manager.errors import CsvManagerError
from csv_manager.files import PRIVATE_UMASK, create_private
from csv_manager.log_file import LogFile
from csv_manager.plugins import CsvDocumentPlugin, CsvWatcherDbPlugin
from csv_manager.plugins.csv_watcher_db_plugin.csv_file_path import has_control_character

CONFIGURATION_FILE = os.path.join(os.path.dirname(__file__), "configuration.py")
HELP_CONFIGURATION_FILE = os.path.join(os.path.dirname(__file__), "help_configuration.py")
VERBOSE_FLAGS = ("-v", "--verbose")
#: The plugins of PLUGINS that serve the web view, and the commands that need them: every other command runs
#: without them, so that it does not import Flask (half again the time a command takes to start).
WEB_PLUGINS = ("GwWeb", "GwWebManager", "CsvWebPlugin")
WEB_COMMANDS = ("server_start", "server_list")
#: What csv_manager makes in APP_PATH: the databases with their journals, and the log with its backups.
OWN_FILES = ("watcher_db.db", "history_db.db", "csv_manager.log")


class CsvManagerApp:
    """Builds the groundwork App from CONFIGURATION_FILE and activates its PLUGINS.

    :param verbose: show groundwork's and the plugins' INFO messages on stderr, not only warnings and errors.
    :param help_only: the command line only asks for help or the version: create no folder, no database and
        no log line.
    :param web: activate the web plugins too (WEB_PLUGINS, when PLUGINS names them).
    """

    def __init__(self, verbose=False, help_only=False, web=False):
        config = ConfigManager().load([CONFIGURATION_FILE])
        LogFile.suspended = help_only
        opened = []
        if not help_only:
            opened = _prepare_app_path(config.APP_PATH)
            create_private(config.GROUNDWORK_LOGGING["handlers"]["file"]["filename"])
        self.app = App([CONFIGURATION_FILE, HELP_CONFIGURATION_FILE] if help_only else [CONFIGURATION_FILE],
                       strict=True)
        #: Read by the plugins: register the commands for their help, open no database, touch no file.
        self.app.help_only = help_only
        if verbose:
            _console_handler().setLevel(logging.INFO)
        if opened:
            logging.getLogger(__name__).warning(
                "Made %s private: %d of its entries were readable or writable by others, now only by their owner"
                % (config.APP_PATH, len(opened)))
        for plugin in _plugin_classes(web):
            if not self.app.plugins.classes.exist(plugin.__name__):
                # Entry points register our plugins when the package is installed; a source checkout has none,
                # and the web plugins' are left out (see compat._iter_entry_points).
                self.app.plugins.classes.register([plugin])
        self.plugins = [name for name in self.app.config.get("PLUGINS", []) if web or name not in WEB_PLUGINS]
        try:
            self.app.plugins.activate(self.plugins)
        except PluginNotActivatableException as error:
            # The plugin closed what it opened; groundwork does not deactivate a plugin that never activated.
            raise _user_error(error) or CsvManagerError(str(error))

    def cli(self):
        """The click group of every command the active plugins registered."""
        group = click.Group("csv_manager", help=self.app.config.get("APP_DESCRIPTION"), params=[
            click.Option(VERBOSE_FLAGS, is_flag=True, expose_value=False,
                         help="Show informational messages on stderr (read before the app starts)."),
        ])
        group = click.version_option(csv_manager.__version__, "--version", prog_name="csv_manager")(group)
        for command in self.app.commands.get().values():
            group.add_command(command.click_command)
        return group

    def stop(self):
        """Deactivate the plugins: watcher threads are stopped and joined, databases closed."""
        self.app.plugins.deactivate(self.plugins)


def start_app(args=None):
    """Console entry point: ``csv_manager [-v] COMMAND ...``."""
    args = sys.argv[1:] if args is None else args
    # Whatever the user's umask, everything the app creates is its owner's only: folders 0700, files 0600,
    # SQLite's -wal and -shm files and the log's backups included.
    os.umask(PRIVATE_UMASK)
    try:
        csv_manager_app = CsvManagerApp(verbose=_wants_verbose(args), help_only=_wants_help_only(args),
                                        web=_wants_web(args))
    except CsvManagerError as error:
        error.show()
        sys.exit(error.exit_code)
    try:
        csv_manager_app.cli().main(args=args, prog_name="csv_manager")
    finally:
        csv_manager_app.stop()


def _wants_verbose(args):
    """True if -v/--verbose comes before the command name: it must be known before the app logs anything."""
    for arg in args:
        if arg in VERBOSE_FLAGS:
            return True
        if not arg.startswith("-"):
            return False
    return False


def _wants_web(args):
    """True if the command is a web command, or there is none (the list of commands is shown)."""
    command = next((arg for arg in args if not arg.startswith("-")), None)
    return command is None or command in WEB_COMMANDS


def _plugin_classes(web):
    if not web:
        return [CsvWatcherDbPlugin, CsvDocumentPlugin]
    from csv_manager.plugins.csv_web_plugin import CsvWebPlugin, GwWeb, GwWebManager

    return [CsvWatcherDbPlugin, CsvDocumentPlugin, GwWeb, GwWebManager, CsvWebPlugin]


def _wants_help_only(args):
    """True if click will only print help or the version: no arguments, or --help or --version before any
    ``--`` (after it, they would be arguments)."""
    options = args[:args.index("--")] if "--" in args else args
    return not args or "--help" in options or "--version" in options


def _prepare_app_path(path):
    """Create APP_PATH if needed (owner only) and make sure we can write into it (the databases and log live
    there). Returns what was more open than that and has been tightened (left by an earlier version)."""
    if has_control_character(path):
        raise CsvManagerError("The application folder %r (CSV_MANAGER_HOME) contains a control character (such "
                              "as a newline); choose another." % path)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as error:
        raise CsvManagerError("Cannot create the application folder %s: %s" % (path, error.strerror))
    if not os.access(path, os.W_OK | os.X_OK):
        raise CsvManagerError("Cannot write to the application folder %s" % path)
    return _make_private(path)


def _make_private(path):
    """Remove group and other permissions from APP_PATH and the files csv_manager made in it; returns the paths
    that had some. Others' files in the folder are left alone."""
    entries = [path] + [os.path.join(path, name) for name in sorted(os.listdir(path)) if name.startswith(OWN_FILES)]
    opened = []
    for entry in entries:
        try:
            status = os.lstat(entry)
            mode = stat.S_IMODE(status.st_mode)
            if mode & PRIVATE_UMASK and not stat.S_ISLNK(status.st_mode):
                os.chmod(entry, mode & ~PRIVATE_UMASK)
                opened.append(entry)
        except OSError:
            continue  # a journal file that SQLite removed meanwhile, or one we may not change: not ours to fix
    return opened


def _console_handler():
    return next(handler for handler in logging.getLogger().handlers if handler.get_name() == "console")


def _user_error(error):
    """The CsvManagerError that caused ``error``, if any."""
    while error is not None and not isinstance(error, CsvManagerError):
        error = error.__cause__
    return error
