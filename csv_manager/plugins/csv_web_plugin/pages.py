"""What the views of the web plugin share: reading query and form parameters (a bad one is a 400 page naming
it), paging, turning recorded rows into a table, and the error pages."""
import logging

import click
from flask import abort, request
from werkzeug.exceptions import HTTPException

#: The page sizes: files and watchers listed, versions of one file, rows of one version.
FILES_PER_PAGE = 50
WATCHERS_PER_PAGE = 100
VERSIONS_PER_PAGE = 10
ROWS_PER_PAGE = 500


def text_parameter(name, source=None):
    """The parameter ``name`` of the query (or ``source``, such as request.form), required and not empty."""
    value = (request.args if source is None else source).get(name, "")
    if not value.strip():
        abort(400, "The parameter %r is missing." % name)
    return value


def number_parameter(name, default=None, source=None, minimum=1):
    """The whole number ``name`` of the query (or ``source``), at least ``minimum``; ``default`` when absent."""
    value = (request.args if source is None else source).get(name, "").strip()
    if not value and default is not None:
        return default
    try:
        number = int(value)
    except ValueError:
        abort(400, "The parameter %r must be a whole number, not %r." % (name, value))
    if number < minimum:
        abort(400, "The parameter %r must be at least %d, not %d." % (name, minimum, number))
    return number


class Paging:
    """Page ``number`` (from 1) of ``total`` items, ``size`` a page."""

    def __init__(self, number, size, total):
        self.number, self.size, self.total = number, size, total
        self.pages = max(1, -(-total // size))
        self.offset = (number - 1) * size

    def check(self):
        if self.number > self.pages:
            abort(404, "There is no page %d: there are %d." % (self.number, self.pages))
        return self


def rows_table(rows):
    """(columns, lines) of recorded rows, (change, row) pairs: the columns in the order the rows name them, and
    per row its change and cells, each (value, (old, new) or None) where ``changes`` of a changed row name it."""
    def values(change, row):
        return row["row"] if change == "changed" else row

    columns = list(dict.fromkeys(name for change, row in rows for name in values(change, row)))
    lines = []
    for change, row in rows:
        changes = row["changes"] if change == "changed" else {}
        lines.append((change, [(values(change, row).get(name), changes.get(name)) for name in columns]))
    return columns, lines


def refuse(error):
    """A click.ClickException (a refused command: bad input, an unknown watcher) as a 400 page."""
    abort(400, error.format_message())


def error_page(render):
    """The error handler of the web plugin: the HTTP error's own page, anything else a 500 page without a
    traceback (which goes to the log)."""
    def handle(error):
        if not isinstance(error, HTTPException):
            if isinstance(error, click.ClickException):
                return render(400, "Bad Request", error.format_message())
            logging.getLogger(__name__).exception("The web view failed on %s %s", request.method, request.path)
            return render(500, "Internal Server Error", "Something went wrong; csv_manager.log in the application "
                                                        "folder says what.")
        return render(error.code, error.name, error.description)
    return handle
