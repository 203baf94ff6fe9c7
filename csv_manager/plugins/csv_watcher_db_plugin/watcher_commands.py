"""The parameters of the csv_watcher_* commands, and what csv_watcher_list prints.

The commands themselves are registered by CsvWatcherDbPlugin.activate, as in the tutorial; their work is done by
the plugin's add_watcher, update_watcher and delete_watcher, which the web view calls too.
"""
import json
import os

import click
from click import Argument, IntRange, Option

from csv_manager.patterns.csv_watcher_pattern.dialect import DEFAULT
from csv_manager.patterns.csv_watcher_pattern.file_pattern import DEFAULT_PATTERN
from csv_manager.plugins.csv_watcher_db_plugin.watcher_options import (
    DelimiterType, EncodingType, describe_options, options_of)

DEFAULT_INTERVAL = 10
#: One day. Longer intervals are almost always a typo (milliseconds for seconds).
MAX_INTERVAL = 86400

_PATH = Argument(("csv_file",), required=True, type=str)
_JSON = Option(("--json", "as_json"), is_flag=True, help="Print JSON instead of text.")
_KEY = Option(("--key", "key"), multiple=True, metavar="COLUMN",
              help="Match rows by this column (repeat for a compound key): a row whose key is still there with "
                   "other values is reported as changed, naming the changed fields.")

LIST_PARAMS = [_JSON, Option(("--status",), is_flag=True,
                             help="Add each watcher's state and the runner that owns it (host:pid).")]
ADD_PARAMS = [
    _PATH,
    Option(("-i", "--interval"), type=IntRange(1, MAX_INTERVAL), default=DEFAULT_INTERVAL, show_default=True,
           help="Seconds between two checks of the file (1 to %d)." % MAX_INTERVAL),
    _KEY,
    Option(("--delimiter",), type=DelimiterType(), default=",", show_default=True,
           help="The field delimiter: , ; | or tab."),
    Option(("--encoding",), type=EncodingType(), default="utf-8", show_default=True,
           help="The file's encoding, any Python text encoding (cp1252, latin-1, utf-16 as Excel's Unicode "
                "text...); UTF-8 may start with a BOM."),
    Option(("--pattern",), metavar="GLOB",
           help="For a folder CSV_FILE: the files in it to watch, those whose path in it matches GLOB (default "
                "%s; **/ descends into subfolders), files that arrive later included." % DEFAULT_PATTERN),
]
DELETE_PARAMS = [_PATH, Option(("--purge",), is_flag=True, help="Also delete the recorded history of CSV_FILE.")]
UPDATE_PARAMS = [
    _PATH,
    Option(("-i", "--interval"), type=IntRange(1, MAX_INTERVAL),
           help="The new number of seconds between two checks (1 to %d)." % MAX_INTERVAL),
    _KEY,
    Option(("--no-key",), is_flag=True, help="Match rows without a key from now on."),
    Option(("--delimiter",), type=DelimiterType(), help="The new delimiter: , ; | or tab."),
    Option(("--encoding",), type=EncodingType(), help="The new encoding."),
    Option(("--pattern",), metavar="GLOB", help="The new pattern of a folder's files."),
]
RUN_PARAMS = [_JSON, Option(("--timestamps",), is_flag=True,
                            help="Begin each line with the time it tells of (ISO 8601 UTC, milliseconds); JSON "
                                 "lines always carry it as \"at\".")]


def print_watchers(watchers, as_json, status):
    """csv_watcher_list's output of ``watchers`` (stored watchers, with their state and owner for ``status``
    or ``as_json``): one line each, or one JSON array; stderr says when there are none or files are missing."""
    if as_json:
        click.echo(json.dumps(watchers, ensure_ascii=False))
    else:
        for watcher in watchers:
            click.echo(_line(watcher, status))
    if not watchers:
        click.echo("No watchers yet. Add one with: csv_manager csv_watcher_add CSV_FILE", err=True)
    missing = [watcher["csv_file"] for watcher in watchers if not os.path.exists(watcher["csv_file"])]
    if missing and not status:
        counted = "1 watched file" if len(missing) == 1 else "%d watched files" % len(missing)
        click.echo("Note: %s not found: %s" % (counted, ", ".join(missing)), err=True)


def count_shown(files):
    """A folder's count of files as shown: ``?`` when it cannot be read."""
    return "?" if files is None else files


def _line(watcher, status):
    line = "file: %s - interval: %s" % (watcher["csv_file"], watcher["interval"])
    if watcher["pattern"] is not None:
        line = "folder: %s - pattern: %s - files: %s - interval: %s" % (
            watcher["csv_file"], watcher["pattern"], count_shown(watcher["files"]), watcher["interval"])
    _, key, dialect = options_of(watcher)
    if key or dialect != DEFAULT:
        line += " - " + describe_options(key, dialect)
    if status:
        line += " - state: %s" % watcher["state"]
        if watcher["owner"]:
            line += " - owner: %(host)s:%(pid)d" % watcher["owner"]
    return line
