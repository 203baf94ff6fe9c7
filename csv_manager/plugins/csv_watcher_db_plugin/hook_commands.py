"""The commands csv_hook_add, csv_hook_list and csv_hook_delete (see hooks.py for what a hook is)."""
import json
import shlex

import click
from click import Argument, Choice, IntRange, Option

from csv_manager.errors import CsvManagerError
from csv_manager.plugins.csv_watcher_db_plugin.hook_delivery import Owners
from csv_manager.plugins.csv_watcher_db_plugin.hooks import (
    HOOK_EVENTS, check_files, check_name, check_url, parse_command, shown_url)
from csv_manager.plugins.csv_watcher_db_plugin.webhook import SIGNATURE_HEADER

NAME_ARGUMENT = Argument(("name",), required=True)
ADD_PARAMS = [
    NAME_ARGUMENT,
    Option(("--exec", "command"), metavar="COMMAND",
           help="Run COMMAND (split as a shell splits it, never run by one) for each version, the version's JSON "
                "on its stdin; exit code 0 means delivered."),
    Option(("--url",), metavar="URL",
           help="POST each version's JSON to URL (http or https), signed in the %s header; a 2xx answer means "
                "delivered." % SIGNATURE_HEADER),
    Option(("--file", "files"), multiple=True, metavar="PATH",
           help="Only versions of this watched file, or of the files of this watched folder (repeat for more; "
                "default: every watched file)."),
    Option(("--event", "events"), multiple=True, type=Choice(HOOK_EVENTS), metavar="EVENT",
           help="Only versions with this event (repeat for more): %s." % ", ".join(HOOK_EVENTS)),
    Option(("--column", "columns"), multiple=True, metavar="COLUMN",
           help="Only versions whose change touches this column: a new or missing row having it, a changed row "
                "changing it, a column change adding or removing it (repeat for more)."),
    Option(("--min-rows",), type=IntRange(min=1), metavar="N",
           help="Only versions with at least N new, missing and changed rows in all."),
]
LIST_PARAMS = [Option(("--json", "as_json"), is_flag=True, help="Print JSON instead of text.")]
DELETE_PARAMS = [NAME_ARGUMENT]


def add_hook(store, history, watchers, name, command, url, files, events, columns, min_rows):
    """Store a hook (csv_hook_add) firing for the versions recorded from now on; print its secret once."""
    check_name(name)
    if (command is None) == (url is None):
        raise click.UsageError("Give one of --exec COMMAND or --url URL.")
    argv = parse_command(command) if command is not None else None
    if url is not None:
        check_url(url)
    files = check_files(files, watchers)
    secret = store.add(name, argv, url, files, tuple(dict.fromkeys(events)), tuple(dict.fromkeys(columns)),
                       min_rows, history.newest_id())
    click.echo("Added hook %s: %s" % (name, shown_url(url) if url is not None else "runs %s" % command))
    if secret is not None:
        click.echo("Its secret, shown this once: the receiver checks the %s header, sha256=HMAC-SHA256(secret, "
                   "body) in hex:" % SIGNATURE_HEADER, err=True)
        click.echo(secret)


def list_hooks(store, history, watchers, as_json):
    """Print every hook (csv_hook_list) with its backlog (versions of watched files not yet delivered or passed
    over) and the error its delivery fails with, if it does."""
    hooks = store.hooks()
    failures = store.failures()
    owners = Owners({watcher["csv_file"]: watcher["pattern"] for watcher in watchers})
    listed = []
    for hook in hooks:
        error, since = failures.get(hook.id, (None, None))
        url = shown_url(hook.url) if hook.url is not None else None
        listed.append({"name": hook.name, "exec": list(hook.command) if hook.url is None else None, "url": url,
                       "files": list(hook.files), "events": list(hook.events), "columns": list(hook.columns),
                       "min_rows": hook.min_rows, "backlog": backlog(store, history, owners, hook),
                       "last_error": error, "failing_since": _iso(since)})
    if as_json:
        click.echo(json.dumps(listed, ensure_ascii=False))
        return
    for hook in listed:
        target = hook["url"] or "exec: " + shlex.join(hook["exec"])
        line = "hook: %s - %s - backlog: %d" % (hook["name"], target, hook["backlog"])
        for name in ("files", "events", "columns"):
            if hook[name]:
                line += " - %s: %s" % (name, ", ".join(hook[name]))
        if hook["min_rows"] is not None:
            line += " - min rows: %d" % hook["min_rows"]
        if hook["last_error"] is not None:
            line += " - failing since %s: %s" % (hook["failing_since"], hook["last_error"])
        click.echo(line)
    if not listed:
        click.echo("No hooks yet. Add one with: csv_manager csv_hook_add NAME --exec COMMAND (or --url URL)", err=True)


def backlog(store, history, owners, hook):
    """How many versions of the watched files come after the hook's cursors."""
    cursors = store.cursors(hook.id)
    low = min((cursors.get(watcher, hook.after_id) for watcher in owners.watchers), default=None)
    if low is None:
        return 0
    waiting = 0
    for version_id, csv_file in history.files_after(low):
        watcher = owners.of(csv_file)
        waiting += watcher is not None and version_id > cursors.get(watcher, hook.after_id)
    return waiting


def _iso(moment):
    return None if moment is None else moment.isoformat(timespec="seconds") + "Z"


def delete_hook(store, name):
    store.delete(name)
    click.echo("Removed hook %s" % name)


def need_history(history):
    if history is None:
        raise CsvManagerError("Hooks are fed from the history: add CsvDocumentPlugin to PLUGINS.")
    return history
