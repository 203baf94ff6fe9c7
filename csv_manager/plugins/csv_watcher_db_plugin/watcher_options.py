"""The per-watcher options of ``csv_watcher_add``: the key columns, the delimiter and the encoding.

How they are given on the command line (click types that refuse what cannot be read, naming it), checked
against the file's header, stored in ``csv_watchers`` (NULL for a default, so that rows written by earlier
releases mean what they meant) and read back.
"""
import json
from typing import NamedTuple

import click

from csv_manager.patterns.csv_watcher_pattern.dialect import (
    DEFAULT, DELIMITERS, Dialect, check_dialect, delimiter_name, suggested_delimiter)
from csv_manager.patterns.csv_watcher_pattern.version import header_of

#: How much of a file csv_watcher_add reads to check --key against its header.
HEADER_BYTES = 1 << 20


class DelimiterType(click.ParamType):
    """One of DELIMITERS by name (``tab`` for a tab), converted to the character."""

    name = "DELIMITER"

    def convert(self, value, param, ctx):
        if value in DELIMITERS.values():
            return value
        if value not in DELIMITERS:
            self.fail("%r is not one of %s" % (value, " ".join(map(repr, DELIMITERS))), param, ctx)
        return DELIMITERS[value]


class EncodingType(click.ParamType):
    """A codec name that csv_diff can read, converted to its canonical name."""

    name = "ENCODING"

    def convert(self, value, param, ctx):
        try:
            return check_dialect(",", value).encoding
        except ValueError as error:
            self.fail(str(error), param, ctx)


def check_key(csv_file, key, header):
    """Refuse (exit 2) key columns that ``header``, read from ``csv_file``, lacks; None (unreadable) passes."""
    absent = [name for name in key if header is not None and name not in header]
    if absent:
        raise click.BadParameter("%s not in the header of %s: %s" % (
            ", ".join(map(repr, absent)), csv_file, header), param_hint="'--key'")


def delimiter_hint(csv_file, header, dialect):
    """The warning to give when ``header``, read from ``csv_file``, looks separated by another delimiter than
    ``dialect``'s; None when it does not."""
    delimiter = suggested_delimiter(header, dialect)
    if delimiter is None:
        return None
    return ("Warning: %s looks %s-separated (its header is one column); to read its columns: csv_manager "
            "csv_watcher_update %s --delimiter '%s'"
            % (csv_file, delimiter_name(delimiter), csv_file, delimiter_name(delimiter)))


def read_header(csv_file, dialect):
    """The header of ``csv_file`` read in ``dialect`` from its first HEADER_BYTES; None if it cannot be read, or
    may go on beyond them."""
    try:
        with open(csv_file, "rb") as stream:
            data = stream.read(HEADER_BYTES)
            whole = not stream.read(1)
    except OSError:
        return None
    header, ended = header_of(data, dialect)
    return header if whole or ended else None


def stored_options(key, dialect):
    """The ``csv_watchers`` columns of these options."""
    return {"key_columns": json.dumps(list(key)) if key else None,
            "delimiter": None if dialect.delimiter == DEFAULT.delimiter else dialect.delimiter,
            "encoding": None if dialect.encoding == DEFAULT.encoding else dialect.encoding}


def read_options(key_columns, delimiter, encoding):
    """The options stored in these ``csv_watchers`` columns, as csv_watcher_list --json shows them."""
    return {"key": json.loads(key_columns) if key_columns else [], "delimiter": delimiter or DEFAULT.delimiter,
            "encoding": encoding or DEFAULT.encoding}


class Options(NamedTuple):
    """How a watcher checks and reads its file, as its CsvWatcher holds them."""

    interval: int
    key: tuple
    dialect: Dialect

    def described(self):
        """The key and dialect as describe_options says them."""
        return describe_options(self.key, self.dialect)


def options_of(watcher):
    """The Options of a stored watcher (a dict, see CsvWatcherDbPlugin.stored_watchers)."""
    return Options(watcher["interval"], tuple(watcher["key"]), Dialect(watcher["delimiter"], watcher["encoding"]))


def describe_options(key, dialect):
    """``key: id - delimiter: ';' - encoding: cp1252``, the key only when there is one."""
    described = "delimiter: %r - encoding: %s" % (dialect.delimiter, dialect.encoding)
    return ("key: %s - " % ", ".join(key) if key else "") + described
