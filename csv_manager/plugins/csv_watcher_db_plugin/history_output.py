"""How csv_history reads its --since option and prints recorded versions.

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
import datetime
import json

import click

from csv_manager.plugins.csv_watcher_db_plugin.reporter import record_events


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


def print_versions(csv_file, versions, as_json):
    for version in versions:
        seen_at = version["seen_at"].isoformat(timespec="seconds") + "Z"
        if version["event"] == "baseline":
            if as_json:
                click.echo(json.dumps({"csv_file": csv_file, "change": "baseline", "version": version["number"],
                                       "seen_at": seen_at, "rows": version["rows"]}, ensure_ascii=False))
            else:
                click.echo("version %d at %s: %d rows, a new baseline: changes before it were not recorded"
                           % (version["number"], seen_at, version["rows"]))
            continue
        events = list(record_events(dict(version, csv_file=csv_file)))
        if as_json:
            for _, fields in events:
                line = dict({"csv_file": csv_file}, **fields)
                line.update(version=version["number"], seen_at=seen_at, rows=version["rows"])
                click.echo(json.dumps(line, ensure_ascii=False))
            continue
        click.echo("version %d at %s: %d rows" % (version["number"], seen_at, version["rows"]))
        for text, _ in events:
            click.echo(text)
