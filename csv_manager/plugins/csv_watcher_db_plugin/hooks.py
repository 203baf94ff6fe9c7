"""Hooks: a command to run or a URL to post to for every recorded version that passes a hook's filters.

A hook is a row of ``csv_hooks`` in the watcher database, so every runner of a shared store sees it; how far its
deliveries have come is in ``csv_hook_cursors`` (see hook_delivery.py, which delivers). What a hook receives is
one JSON document per version (see document): the version's ``id`` (stable, the receiver's idempotency key),
``csv_file``, its ``version`` number, ``at`` and its ``events``, the objects csv_watcher_run --json prints.
"""
import json
import re
import secrets
import shlex
import shutil
import urllib.parse
from dataclasses import dataclass

import click
from sqlalchemy import Column, DateTime, Integer, String, Text

from csv_manager.database import transaction, utc_now
from csv_manager.errors import CsvManagerError
from csv_manager.patterns.csv_watcher_pattern.file_pattern import FilePattern
from csv_manager.plugins.csv_watcher_db_plugin.csv_file_path import normalise
from csv_manager.plugins.csv_watcher_db_plugin.reporter import record_events

#: The events a hook can be limited to (csv_watcher_run's events of a recorded version).
HOOK_EVENTS = ("new", "missing", "changed", "columns", "file_missing", "file_empty", "file_unreadable",
               "file_invalid", "file_back", "file_added", "file_removed", "file_renamed")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def hook_models(Base):
    """The models of the hook tables (made by the watcher migration 0004) on ``Base``: (Hook, Cursor)."""

    class CsvHooks(Base):
        __tablename__ = "csv_hooks"

        id = Column(Integer, primary_key=True)
        name = Column(String(255), nullable=False, unique=True)
        #: The command's argv as a JSON list (an exec hook), or the URL (a webhook) and its secret.
        command = Column(Text, nullable=True)
        url = Column(Text, nullable=True)
        secret = Column(String(64), nullable=True)
        #: JSON lists of the filters; NULL for none.
        files = Column(Text, nullable=True)
        events = Column(Text, nullable=True)
        columns = Column(Text, nullable=True)
        min_rows = Column(Integer, nullable=True)
        #: The newest version id when the hook was added: it is delivered the versions after it.
        after_id = Column(Integer, nullable=False)
        created_at = Column(DateTime, nullable=False)
        #: Set by the runner delivering it while a delivery fails.
        last_error = Column(Text, nullable=True)
        failing_since = Column(DateTime, nullable=True)

    class CsvHookCursors(Base):
        """The newest version id of a watcher's files (the watcher's path) that the hook is done with."""
        __tablename__ = "csv_hook_cursors"

        hook_id = Column(Integer, primary_key=True)
        watcher = Column(String(2048), primary_key=True)
        version_id = Column(Integer, nullable=False)

    return CsvHooks, CsvHookCursors


@dataclass(frozen=True)
class Hook:
    """A stored hook, as its deliveries need it."""

    id: int
    name: str
    command: tuple
    url: str
    secret: str
    files: tuple
    events: tuple
    columns: tuple
    min_rows: int
    after_id: int

    @classmethod
    def of(cls, row):
        return cls(row.id, row.name, tuple(_loads(row.command)), row.url, row.secret, tuple(_loads(row.files)),
                   tuple(_loads(row.events)), tuple(_loads(row.columns)), row.min_rows, row.after_id)

    def passes(self, version):
        """Whether the recorded ``version`` (a dict as History.after gives it) is this hook's to deliver: any of
        its files, any of its events, any of its columns touched, and at least its rows changed. A baseline
        taken again has no events and passes none."""
        path = version["csv_file"]
        if version["event"] == "baseline":
            return False
        if self.files and not any(path == name or path.startswith(name.rstrip("/") + "/") for name in self.files):
            return False
        if self.min_rows is not None and _changed_rows(version) < self.min_rows:
            return False
        if not (self.events or self.columns):
            return True
        events = [fields for _, fields in record_events(version)]
        return ((not self.events or any(fields["event"] in self.events for fields in events))
                and (not self.columns or any(_touched(fields) & set(self.columns) for fields in events)))


def document(version):
    """The JSON document a hook receives for ``version``: UTF-8 bytes, one line (so a command that appends it to
    a file makes JSON lines)."""
    at = version["seen_at"].isoformat(timespec="milliseconds") + "Z"
    events = [dict({"at": at, "csv_file": version["csv_file"]}, **fields) for _, fields in record_events(version)]
    return json.dumps({"id": version["id"], "csv_file": version["csv_file"], "version": version["number"],
                       "at": at, "events": events}, ensure_ascii=False).encode("utf-8") + b"\n"


def _changed_rows(version):
    return len(version["new_rows"]) + len(version["missing_rows"]) + len(version["changed_rows"])


def _touched(fields):
    """The columns an event (its JSON fields) touches: all of a new or missing row's, a changed row's changed
    ones, a column change's added and removed ones."""
    event = fields["event"]
    if event in ("new", "missing"):
        return set(fields["row"])
    if event == "changed":
        return set(fields["changes"])
    if event == "columns":
        return set(fields["added"]) | set(fields["removed"])
    return set()


def _loads(value):
    return () if value is None else json.loads(value)


def _dumps(values):
    return json.dumps(list(values), ensure_ascii=False) if values else None


def check_name(name):
    if not NAME.fullmatch(name):
        raise click.BadParameter("%r is not a hook name: use 1 to 64 letters, digits, '.', '_' or '-', starting "
                                 "with a letter or digit." % name, param_hint="'NAME'")
    return name


def parse_command(command):
    """The argv of ``--exec COMMAND``: split as a shell would split it, but never run by one; its program must
    be found."""
    try:
        argv = shlex.split(command)
    except ValueError as error:
        raise click.BadParameter("cannot split %r: %s" % (command, error), param_hint="'--exec'")
    if not argv:
        raise click.BadParameter("the command is empty", param_hint="'--exec'")
    if shutil.which(argv[0]) is None:
        raise click.BadParameter("%s: no such program (or not executable)" % argv[0], param_hint="'--exec'")
    return argv


def check_url(url):
    """``--url``: http or https, with a host, a valid port, and no spaces or control characters (which would
    break the request line)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("%r is not an http:// or https:// URL" % url, param_hint="'--url'")
    if any(ord(character) <= 32 or ord(character) == 127 for character in url):
        raise click.BadParameter("%r has a space or a control character; encode it (%%20)" % url,
                                 param_hint="'--url'")
    return url


def shown_url(url):
    """``url`` with its password, if any, as ``***``: listings are not the place for it."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = "%s:***@%s" % (parts.username, parts.netloc.rpartition("@")[2])
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def check_files(files, watchers):
    """The normalised ``files`` (``--file``), each a watcher's file or folder, or a file a folder watcher's
    pattern takes in."""
    checked = []
    for name in files:
        path = normalise(name)
        if not any(_covers(watcher, path) for watcher in watchers):
            raise CsvManagerError("%s is not watched: --file takes a watched file or folder, or a file in a "
                                  "watched folder." % path)
        checked.append(path)
    return checked


def _covers(watcher, path):
    if path == watcher["csv_file"]:
        return True
    prefix = watcher["csv_file"].rstrip("/") + "/"
    return (watcher["pattern"] is not None and path.startswith(prefix)
            and FilePattern(watcher["pattern"]).matches(path[len(prefix):]))


class HookStore:
    """The hook tables of the watcher database ``db`` (models from hook_models)."""

    def __init__(self, db, models):
        self.db = db
        self.Hook, self.Cursor = models

    def add(self, name, command, url, files, events, columns, min_rows, after_id):
        """Store a new hook; returns its secret (None for an exec hook)."""
        secret = secrets.token_hex(32) if url is not None else None
        with transaction(self.db, writes=True) as session:
            if session.query(self.Hook.id).filter_by(name=name).first() is not None:
                raise CsvManagerError("A hook named %s exists already." % name)
            session.add(self.Hook(name=name, command=_dumps(command), url=url, secret=secret, files=_dumps(files),
                                  events=_dumps(events), columns=_dumps(columns), min_rows=min_rows,
                                  after_id=after_id, created_at=utc_now()))
        return secret

    def delete(self, name):
        with transaction(self.db, writes=True) as session:
            hook = session.query(self.Hook).filter_by(name=name).first()
            if hook is None:
                raise CsvManagerError("No hook named %s." % name)
            session.query(self.Cursor).filter_by(hook_id=hook.id).delete()
            session.delete(hook)

    def hooks(self):
        """Every stored hook (Hook), oldest first."""
        with transaction(self.db) as session:
            return [Hook.of(row) for row in session.query(self.Hook).order_by(self.Hook.id)]

    def failures(self):
        """{hook id: (last error, failing since)} of the hooks whose delivery fails."""
        with transaction(self.db) as session:
            return {row.id: (row.last_error, row.failing_since) for row in session.query(
                self.Hook.id, self.Hook.last_error, self.Hook.failing_since).filter(self.Hook.last_error.isnot(None))}

    def cursors(self, hook_id, watchers=None):
        """{watcher path: the newest version id of its files the hook is done with}, of every watcher or of
        ``watchers`` only."""
        with transaction(self.db) as session:
            query = session.query(self.Cursor.watcher, self.Cursor.version_id).filter_by(hook_id=hook_id)
            if watchers is None:
                return dict(query)
            found = {}
            for start in range(0, len(watchers), 500):
                found.update(query.filter(self.Cursor.watcher.in_(watchers[start:start + 500])))
            return found

    def save_cursors(self, hook_id, cursors):
        """Store ``cursors`` ({watcher path: version id}) of the hook; a deleted hook's are not stored."""
        with transaction(self.db, writes=True) as session:
            if session.query(self.Hook.id).filter_by(id=hook_id).first() is None:
                return
            watchers = list(cursors)
            for start in range(0, len(watchers), 500):
                session.query(self.Cursor).filter(self.Cursor.hook_id == hook_id, self.Cursor.watcher.in_(
                    watchers[start:start + 500])).delete(synchronize_session=False)
            session.bulk_insert_mappings(self.Cursor, [
                {"hook_id": hook_id, "watcher": watcher, "version_id": version_id}
                for watcher, version_id in cursors.items()])

    def set_failure(self, hook_id, error):
        """Record that the hook's delivery fails with ``error`` (a message), or works again (None)."""
        with transaction(self.db, writes=True) as session:
            hook = session.get(self.Hook, hook_id)
            if hook is not None:
                hook.last_error = error
                hook.failing_since = None if error is None else hook.failing_since or utc_now()
