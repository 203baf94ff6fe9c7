"""How csv_history reads its options and prints recorded versions, a version's bytes (--show) and the rows
that differ between two versions (--diff).

Versions are numbered 1, 2, 3 ... in each file's history. Text output keeps the live report's lines (see
reporter.py), under one header line per version::

    version 7 at 2026-11-27T07:50:10Z: 4 rows
    /abs/path.csv has new row: {'id': '3', 'name': 'Linus'}

``--json`` prints one JSON object per line of the live report, its keys (but ``at``) plus ``version``,
``seen_at`` and ``rows``.

A baseline taken again because the recorded content could not be trusted is a version of its own: in text
``version 9 at …: 4 rows, a new baseline: changes before it were not recorded``, in JSON one object with
``"change": "baseline"`` and no row.
"""
import csv
import datetime
import json
import sys

import click

from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.csv_diff import diff
from csv_manager.patterns.csv_watcher_pattern.version import read
from csv_manager.plugins.csv_document_plugin.history_reads import AFTER_LIMIT
from csv_manager.plugins.csv_watcher_db_plugin.reporter import record_events

#: How often csv_history --follow asks for new versions.
FOLLOW_SECONDS = 0.5
#: What a version without content was, for the message that says why it cannot be shown.
NO_CONTENT = {"file_missing": "missing", "file_unreadable": "unreadable", "file_invalid": "not valid"}


class SinceType(click.ParamType):
    """An ISO 8601 date or time, converted to naive UTC as ``seen_at`` is stored. Without an offset it is local."""

    name = "TIME"

    def convert(self, value, param, ctx):
        if isinstance(value, datetime.datetime):
            return value
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            moment = datetime.datetime.fromisoformat(text)
        except ValueError:
            self.fail("%r is not an ISO 8601 date or time, such as 2026-11-27 or 2026-11-27T08:30" % value,
                      param, ctx)
        return moment.astimezone(datetime.timezone.utc).replace(tzinfo=None)


def print_versions(csv_file, versions, as_json, cursor=False):
    """Print ``versions`` of ``csv_file``; with ``cursor`` (csv_history --after) each text header names the file
    and the version's id."""
    for version in versions:
        seen_at = version["seen_at"].isoformat(timespec="seconds") + "Z"
        header = "version %d at %s" % (version["number"], seen_at)
        if cursor:
            header = "version %d of %s at %s (id %d)" % (version["number"], csv_file, seen_at, version["id"])
        if version["event"] == "baseline":
            if as_json:
                click.echo(json.dumps({"csv_file": csv_file, "change": "baseline", "version": version["number"],
                                       "seen_at": seen_at, "rows": version["rows"], "id": version["id"]},
                                      ensure_ascii=False))
            else:
                click.echo("%s: %d rows, a new baseline: changes before it were not recorded"
                           % (header, version["rows"]))
            continue
        events = list(record_events(dict(version, csv_file=csv_file)))
        if as_json:
            for _, fields in events:
                line = dict({"csv_file": csv_file}, **fields)
                line.update(version=version["number"], seen_at=seen_at, rows=version["rows"])
                click.echo(json.dumps(line, ensure_ascii=False))
            continue
        click.echo("%s: %d rows" % (header, version["rows"]))
        for text, _ in events:
            click.echo("".join(text))


def print_after(history, csv_file, after, as_json, follow, stop):
    """Print the versions recorded after the id ``after`` (of ``csv_file``, or of every file for None), oldest
    first; with ``follow``, go on printing versions as they are recorded until the event ``stop`` is set."""
    while True:
        versions = history.after(after, csv_file)
        for version in versions:
            print_versions(version["csv_file"], [version], as_json, cursor=True)
        sys.stdout.flush()
        if versions:
            after = versions[-1]["id"]
        if len(versions) == AFTER_LIMIT:
            continue
        if not follow or stop.wait(FOLLOW_SECONDS):
            return


def check_cursor_options(after, follow, versions, since, limit, show, diff_wanted, prune):
    """Refuse (exit 2) --follow without --after, and --after with the options of one file's history."""
    if follow and after is None:
        raise click.UsageError("--follow goes with --after ID (--after 0 for everything recorded).")
    if after is not None and (versions or since or limit or show is not None or diff_wanted or prune):
        raise click.UsageError("--after reads versions in the order they were recorded; it cannot be combined "
                               "with versions, --since, --limit, --show, --diff or --prune.")


def check_history_options(versions, show, diff_wanted, prune):
    """Refuse (exit 2) combinations that mean nothing: two of --show, --diff and --prune, VERSIONS without
    --diff, more than two VERSIONS, --diff without one."""
    if (show is not None) + diff_wanted + prune > 1:
        raise click.UsageError("--show, --diff and --prune cannot be combined.")
    if versions and not diff_wanted:
        raise click.UsageError("Versions after CSV_FILE are for --diff N [M]; use --show N for one version.")
    if diff_wanted and not 1 <= len(versions) <= 2:
        raise click.UsageError("--diff takes one or two versions after CSV_FILE: N [M].")


def write_version(history, csv_file, number):
    """Write the bytes of ``csv_file`` at version ``number`` to stdout, as recorded."""
    content = _content(history, csv_file, number)
    sys.stdout.flush()
    sys.stdout.buffer.write(content)
    sys.stdout.buffer.flush()


def print_diff(history, csv_file, versions, key, dialect, as_json):
    """Print the rows that differ between version N and version M (or the newest recorded content) of
    ``csv_file``, read in ``dialect`` and matched by ``key``, in the live report's words (JSON: its objects
    with ``from`` and ``to``, None for the newest)."""
    first, second = versions[0], versions[1] if len(versions) > 1 else None
    record = diff_versions(history, csv_file, first, second, key, dialect)
    for text, fields in record_events(record):
        if as_json:
            click.echo(json.dumps(dict({"csv_file": csv_file}, **fields, **{"from": first, "to": second}),
                                  ensure_ascii=False))
        else:
            click.echo("".join(text))
    if not any(record[name] for name in ("new_rows", "missing_rows", "changed_rows", "columns")):
        click.echo("No rows differ between version %d and %s of %s." % (
            first, "the newest recorded content" if second is None else "version %d" % second, csv_file), err=True)


def diff_versions(history, csv_file, first, second, key, dialect):
    """The rows that differ between versions ``first`` and ``second`` (None: the newest recorded content) of
    ``csv_file``, as a record of the live report (csv_file, event, new_rows, missing_rows, changed_rows,
    columns). CsvManagerError if either has no content or cannot be read as CSV."""
    old, new = _content(history, csv_file, first), _content(history, csv_file, second)
    try:
        old_version = read(old, dialect)
        change, _ = diff(old_version, new, key)
    except (UnicodeDecodeError, csv.Error) as error:
        raise CsvManagerError("The recorded content of %s cannot be read as CSV: %s" % (csv_file, error))
    return {"csv_file": csv_file, "event": "change", "new_rows": change.new_rows,
            "missing_rows": change.missing_rows, "changed_rows": change.changed_rows,
            "columns": None if change.columns is None else change.columns.as_dict()}


def _content(history, csv_file, number):
    content, event = history.content_at(csv_file, number)
    if content is None:
        raise CsvManagerError("At version %d %s was %s: there are no bytes to show." % (
            number, csv_file, NO_CONTENT[event]))
    return content


def print_pruned(csv_file, deleted, oldest):
    """Say what csv_history --prune did: ``deleted`` versions, ``oldest`` the number of the oldest kept one."""
    if not deleted:
        click.echo("Nothing to prune in the history of %s: the retention settings keep every version." % csv_file)
    elif oldest is None:
        click.echo("Pruned %d versions of %s; none is kept, the content stays recorded." % (deleted, csv_file))
    else:
        click.echo("Pruned %d versions of %s; the oldest kept is version %d." % (deleted, csv_file, oldest))
